"""Typed FastAPI dependencies: the runtime, a database session and the current user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from orchestrator.core.config import Settings
from orchestrator.core.errors import AuthError, Forbidden
from orchestrator.core.security import decode_access_token
from orchestrator.db.models import User
from orchestrator.runtime import Runtime

_bearer = HTTPBearer(auto_error=False, description="JWT from POST /api/v1/auth/login")


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
    """The active user a token names, or `AuthError`."""
    user = await db.get(User, decode_access_token(token, runtime.settings.signing_key()))
    if user is None or not user.is_active:
        raise AuthError("invalid token")
    return user


async def get_current_user(
    db: SessionDep,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None:
        raise AuthError("not authenticated")
    user = await user_from_token(db, runtime, credentials.credentials)
    # End the read so the request does not sit on a pooled connection while its route
    # opens sessions of its own: under load that exhausts the pool (Postgres) and stalls.
    await db.commit()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin(user: CurrentUser) -> User:
    if user.role != "admin":
        raise Forbidden("administrators only")
    return user


AdminUser = Annotated[User, Depends(get_admin)]
