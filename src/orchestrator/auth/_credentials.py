"""One function turns a bearer credential (access token or API key) into the active user."""

from __future__ import annotations

from sqlalchemy import bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from orchestrator.auth._api_keys import API_KEY_PREFIX, user_for_api_key
from orchestrator.core.config import Settings
from orchestrator.core.errors import AuthError
from orchestrator.core.security import decode_access_token
from orchestrator.db.models import RefreshToken, User
from orchestrator.db.session import read

_USERS = User.__table__
# Built once: composing a statement costs more than running it on SQLite, and a prebuilt
# one also keeps its compiled form in the engine's cache without a cache-key walk.
_USER_BY_ID = select(*_USERS.columns).where(_USERS.c.id == bindparam("user_id"))
_USER_AND_SESSION_END = _USER_BY_ID.add_columns(
    exists(
        select(RefreshToken.id).where(
            RefreshToken.family_id == bindparam("session_id"),
            RefreshToken.revoked_at.is_not(None),
        )
    ).label("session_ended")
)


async def user_for_credential(engine: AsyncEngine, settings: Settings, credential: str) -> User:
    """The active user an access token or `orch_` API key names; `AuthError` otherwise.

    Every request pays this, so an access token costs one Core query on a pooled
    connection (no ORM session, no identity map, nothing to commit); the user comes back
    as a detached `User`. Nothing about the user is cached: a logout, a new token version or a
    deactivation written by any process is refused on the next request."""
    if credential.startswith(API_KEY_PREFIX):
        async with AsyncSession(engine, expire_on_commit=False) as db:
            return await user_for_api_key(db, credential)
    claims = decode_access_token(credential, settings.signing_key())
    # With a session id, one query still: the user, and whether that session was logged out.
    if claims.session_id is None:
        query, params = _USER_BY_ID, {"user_id": claims.user_id}
    else:
        query = _USER_AND_SESSION_END
        params = {"user_id": claims.user_id, "session_id": claims.session_id}
    rows = await read(engine, query, params)
    row = rows[0] if rows else None
    if row is None:
        raise AuthError("invalid token; log in again")
    fields = row._asdict()
    if (
        fields.pop("session_ended", False)
        or not fields["is_active"]
        or fields["token_version"] != claims.version
    ):
        raise AuthError("invalid token; log in again")
    return User(**fields)
