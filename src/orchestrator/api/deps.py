"""Typed FastAPI dependencies: the runtime, a database session and the current user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection, Request

from orchestrator.api.cookies import ACCESS_COOKIE, check_csrf
from orchestrator.auth import user_for_credential
from orchestrator.core.config import Settings
from orchestrator.core.errors import AuthError, Forbidden
from orchestrator.db.models import User
from orchestrator.runtime import Runtime

_bearer = HTTPBearer(
    auto_error=False,
    description="an access token from POST /api/v1/auth/login, or an `orch_` API key",
)


def get_runtime(connection: HTTPConnection) -> Runtime:
    runtime: Runtime = connection.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_db(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_db)]


async def user_from_token(db: AsyncSession, runtime: Runtime, token: str) -> User:
    """The active user a bearer credential (access token or API key) names, or `AuthError`."""
    return await user_for_credential(db, runtime.settings, token)


async def user_from_credential(runtime: Runtime, credential: str) -> User:
    """The active user a bearer credential names, in a session of its own; `AuthError`
    otherwise. For every surface outside the routes' dependencies (`/v1`, `/mcp`, sockets)."""
    async with runtime.sessions() as db:
        return await user_for_credential(db, runtime.settings, credential)


def request_credential(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The request's bearer credential: the `Authorization` header (programs), else the
    session cookie (the web app), whose writes must then carry the CSRF header."""
    if credentials is not None:
        return credentials.credentials
    cookie = request.cookies.get(ACCESS_COOKIE)
    if not cookie:
        raise AuthError("not authenticated")
    check_csrf(request, request.method)
    return cookie


async def get_current_user(
    db: SessionDep,
    runtime: RuntimeDep,
    credential: Annotated[str, Depends(request_credential)],
) -> User:
    """The active user behind the request's token, API key or session cookie."""
    user = await user_from_token(db, runtime, credential)
    # End the read so the request does not sit on a pooled connection while its route
    # opens sessions of its own: under load that exhausts the pool (Postgres) and stalls.
    await db.commit()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin(user: CurrentUser) -> User:
    if user.role != "admin":
        raise Forbidden("administrators only", code="admin_only")
    return user


AdminUser = Annotated[User, Depends(get_admin)]
