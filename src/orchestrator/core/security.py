"""Password hashing (argon2 via pwdlib) and access tokens (JWT HS256 via PyJWT)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash

from orchestrator.core.errors import AuthError

_hasher = PasswordHash.recommended()
ALGORITHM = "HS256"


@functools.cache
def _dummy_hash() -> str:
    """Verified when the username is unknown, so both failures take the same time."""
    return _hasher.hash("not-a-real-password-0000")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password; with no hash, spend the same time and fail."""
    if password_hash is None:
        _hasher.verify(password, _dummy_hash())
        return False
    return _hasher.verify(password, password_hash)


def create_access_token(user_id: int, key: str, expire_minutes: int) -> str:
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "iat": now, "exp": now + timedelta(minutes=expire_minutes)}
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def decode_access_token(token: str, key: str) -> int:
    """The user id a valid token names; `AuthError` for anything else."""
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        return int(claims["sub"])
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired; log in again") from None
    except (jwt.InvalidTokenError, ValueError):
        raise AuthError("invalid token") from None
