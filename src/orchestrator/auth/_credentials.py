"""One function turns a bearer credential (access token or API key) into the active user."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.auth._api_keys import API_KEY_PREFIX, user_for_api_key
from orchestrator.core.config import Settings
from orchestrator.core.errors import AuthError
from orchestrator.core.security import decode_access_token
from orchestrator.db.models import RefreshToken, User


async def user_for_credential(db: AsyncSession, settings: Settings, credential: str) -> User:
    """The active user an access token or `orch_` API key names; `AuthError` otherwise."""
    if credential.startswith(API_KEY_PREFIX):
        return await user_for_api_key(db, credential)
    claims = decode_access_token(credential, settings.signing_key())
    query = select(User).where(User.id == claims.user_id)
    if claims.session_id is not None:
        # One query still: the user, and whether the token's session was logged out.
        ended = select(RefreshToken.id).where(
            RefreshToken.family_id == claims.session_id, RefreshToken.revoked_at.is_not(None)
        )
        found = (await db.execute(query.add_columns(exists(ended)))).first()
        user, session_ended = (found[0], found[1]) if found else (None, True)
    else:
        user, session_ended = await db.scalar(query), False
    if user is None or session_ended or not user.is_active or user.token_version != claims.version:
        raise AuthError("invalid token; log in again")
    return user
