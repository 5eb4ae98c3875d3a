"""API keys: random `orch_...` secrets for programs, stored as SHA-256, shown once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.core.errors import AuthError, NotFound
from orchestrator.core.security import digest, random_secret
from orchestrator.db.models import ApiKey, User, utcnow

API_KEY_PREFIX = "orch_"
SHOWN_PREFIX = 12  # characters of the key kept in clear, to tell keys apart in a list
MAX_KEY_LENGTH = 128
# `last_used_at` is refreshed at most this often: a busy key costs no write per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class NewApiKey:
    """A key just created: the stored row and the secret, which is never shown again."""

    row: ApiKey
    key: str


async def create_api_key(
    db: AsyncSession, user_id: int, name: str, expires_days: int | None
) -> NewApiKey:
    """Create a key for `user_id`, expiring after `expires_days` (never when None)."""
    key = random_secret(API_KEY_PREFIX)
    now = utcnow()
    row = ApiKey(
        user_id=user_id,
        name=name,
        prefix=key[:SHOWN_PREFIX],
        key_hash=digest(key),
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    db.add(row)
    await db.commit()
    return NewApiKey(row, key)


async def list_api_keys(db: AsyncSession, user_id: int) -> list[ApiKey]:
    """The user's keys, newest first."""
    query = select(ApiKey).where(ApiKey.user_id == user_id)
    return list(await db.scalars(query.order_by(ApiKey.created_at.desc(), ApiKey.id)))


async def delete_api_key(db: AsyncSession, user_id: int, key_id: str) -> None:
    """Revoke one of the user's keys; another user's id is `NotFound` like a missing one."""
    row = await db.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id))
    if row is None:
        raise NotFound("API key not found")
    await db.delete(row)
    await db.commit()


async def user_for_api_key(db: AsyncSession, key: str) -> User:
    """The active owner of a valid, unexpired key; `AuthError` otherwise."""
    if len(key) > MAX_KEY_LENGTH:
        raise AuthError("invalid API key")
    found = (
        await db.execute(
            select(ApiKey, User)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.key_hash == digest(key))
        )
    ).first()
    if found is None:
        raise AuthError("invalid API key")
    row, user = found
    now = utcnow()
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthError("API key expired")
    if not user.is_active:
        raise AuthError("invalid API key")
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
        await db.commit()
    return user
