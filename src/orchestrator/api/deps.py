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


# Every dependency here is `async def`: FastAPI runs a plain `def` on a worker thread,
# a thread hop per request for what is one attribute read.
async def get_runtime(connection: HTTPConnection) -> Runtime:
    runtime: Runtime = connection.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_db(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_db)]


async def user_from_credential(runtime: Runtime, credential: str) -> User:
    """The active user a bearer credential (access token or API key) names; `AuthError`
    otherwise. For the routes (below) and every surface outside them (`/v1`, `/mcp`,
    sockets)."""
    return await user_for_credential(runtime.engine, runtime.settings, credential)


async def request_credential(
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
    runtime: RuntimeDep,
    credential: Annotated[str, Depends(request_credential)],
) -> User:
    """The active user behind the request's token, API key or session cookie. It holds no
    connection of the route's session: a route that needs none (`/auth/me`) opens none."""
    return await user_from_credential(runtime, credential)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin(user: CurrentUser) -> User:
    if user.role != "admin":
        raise Forbidden("administrators only", code="admin_only")
    return user


AdminUser = Annotated[User, Depends(get_admin)]
