"""Sessions: a short access token plus a rotating refresh token.

A login starts a family; each refresh marks the presented token used and issues the next
of the same family. A token presented after it was used means two parties hold it (one
stole it): the whole family is revoked, so the thief's copy dies with the owner's.
Refresh tokens also carry the user's token version: a password or role change, a
deactivation or a logout ends them with the access tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.core.config import Settings
from orchestrator.core.errors import AuthError
from orchestrator.core.security import create_access_token, digest, random_secret
from orchestrator.db.models import RefreshToken, User, new_id, utcnow

MAX_REFRESH_LENGTH = 128


@dataclass(frozen=True)
class SessionTokens:
    """What a login or a refresh hands out."""

    user: User
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime


async def start_session(db: AsyncSession, settings: Settings, user: User) -> SessionTokens:
    """A new session (a new refresh family) for `user`; the user's dead tokens are swept."""
    await db.execute(
        delete(RefreshToken).where(
            RefreshToken.user_id == user.id,
            or_(
                RefreshToken.expires_at <= utcnow(),
                RefreshToken.token_version != user.token_version,
            ),
        )
    )
    return await _issue(db, settings, user, new_id())


async def refresh_session(
    db: AsyncSession, settings: Settings, refresh_token: str
) -> SessionTokens:
    """Rotate a refresh token: the next one of its family, and a new access token."""
    if len(refresh_token) > MAX_REFRESH_LENGTH:
        raise AuthError("invalid refresh token")
    row = await db.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == digest(refresh_token))
    )
    now = utcnow()
    if row is None or row.revoked_at is not None:
        raise AuthError("invalid refresh token; log in again")
    if row.used_at is not None:
        await _revoke_family(db, row.family_id, now)
        raise AuthError("this refresh token was already used; every session it began has ended")
    if row.expires_at <= now:
        raise AuthError("session expired; log in again")
    user = await db.get(User, row.user_id)
    if user is None or not user.is_active or user.token_version != row.token_version:
        raise AuthError("session ended; log in again")
    # Only one of two concurrent refreshes with the same token may win.
    claimed = await db.execute(
        update(RefreshToken)
        .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await db.rollback()
        await _revoke_family(db, row.family_id, now)
        raise AuthError("this refresh token was already used; every session it began has ended")
    return await _issue(db, settings, user, row.family_id)


async def end_session(
    db: AsyncSession, *, refresh_token: str | None = None, session_id: str | None = None
) -> None:
    """Log a session out: revoke its refresh family, named by a refresh token or by the
    access token's session id; its access tokens are refused from now on."""
    if refresh_token is not None:
        hashed = digest(refresh_token[:MAX_REFRESH_LENGTH])
        row = await db.scalar(select(RefreshToken).where(RefreshToken.token_hash == hashed))
        if row is not None:
            await _revoke_family(db, row.family_id, utcnow())
    if session_id is not None:
        await _revoke_family(db, session_id, utcnow())


async def _revoke_family(db: AsyncSession, family_id: str, now: datetime) -> None:
    await db.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await db.commit()


async def _issue(db: AsyncSession, settings: Settings, user: User, family_id: str) -> SessionTokens:
    now = utcnow()
    refresh = random_secret()
    refresh_expires = now + timedelta(days=settings.refresh_token_expire_days)
    db.add(
        RefreshToken(
            family_id=family_id,
            user_id=user.id,
            token_hash=digest(refresh),
            token_version=user.token_version,
            created_at=now,
            expires_at=refresh_expires,
        )
    )
    await db.commit()
    minutes = settings.access_token_expire_minutes
    access = create_access_token(
        user.id,
        settings.signing_key(),
        minutes,
        version=user.token_version,
        session_id=family_id,
    )
    return SessionTokens(
        user=user,
        access_token=access,
        refresh_token=refresh,
        access_expires_at=now + timedelta(minutes=minutes),
        refresh_expires_at=refresh_expires,
    )
