"""Password hashing (argon2 via pwdlib, off the event loop) and access tokens (JWT HS256).

An access token carries `sub` (the user id), `ver` (the user's token version when it was
issued) and `exp`; a token whose `ver` is not the user's current one is refused, so a
logout, a password or role change or a deactivation ends every session at once.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash

from orchestrator.core.errors import AuthError

_hasher = PasswordHash.recommended()
ALGORITHM = "HS256"
# Ids are positive 63-bit integers written in ASCII digits; anything else is not ours.
_USER_ID = re.compile(r"[1-9][0-9]{0,17}", re.ASCII)


@functools.cache
def _dummy_hash() -> str:
    """Verified when the username is unknown, so both failures take the same time."""
    return _hasher.hash("not-a-real-password-0000")


def hash_password(password: str) -> str:
    """An argon2 hash of `password` (blocking: use `PasswordHasher` in the server)."""
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password; with no hash, spend the same time and fail (blocking)."""
    if password_hash is None:
        _hasher.verify(password, _dummy_hash())
        return False
    return _hasher.verify(password, password_hash)


class PasswordHasher:
    """argon2 on a few dedicated threads: a login flood queues here, not on the event loop,
    and cannot take every CPU or every thread of the default pool."""

    def __init__(
        self,
        slots: int = 2,
        *,
        hash_fn: Callable[[str], str] = hash_password,
        verify_fn: Callable[[str, str | None], bool] = verify_password,
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="argon2")
        self._hash = hash_fn
        self._verify = verify_fn

    async def hash(self, password: str) -> str:
        """`hash_password` on a hashing thread."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._hash, password)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """`verify_password` on a hashing thread."""
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._verify, password, password_hash
        )

    def close(self) -> None:
        """Stop the threads (waiting for none)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class AccessClaims:
    """What a valid access token says."""

    user_id: int
    version: int
    session_id: str | None  # the refresh family a web or program session belongs to


def create_access_token(
    user_id: int,
    key: str,
    expire_minutes: float,
    *,
    version: int = 0,
    session_id: str | None = None,
) -> str:
    """A signed access token for `user_id` at token version `version` (in a session)."""
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(user_id),
        "ver": version,
        "iat": now,
        "exp": now + timedelta(minutes=expire_minutes),
    }
    if session_id is not None:
        claims["sid"] = session_id
    return jwt.encode(claims, key, algorithm=ALGORITHM)


# Tokens whose signature and claims were checked: (token, key) -> (claims, exp). A client
# sends the same token on every request for its whole life; checking its HMAC and parsing
# its JSON again each time is the same answer bought again. The key is part of the cache
# key, `exp` is still checked on every use, and what may revoke a token (its version, its
# session) is read from the database by the caller each time, as before.
_VERIFIED: dict[tuple[str, str], tuple[AccessClaims, float]] = {}
_VERIFIED_MAX = 4096


def decode_access_token(token: str, key: str) -> AccessClaims:
    """The claims of a valid token; `AuthError` for anything else (never another id)."""
    cached = _VERIFIED.get((token, key))
    if cached is not None:
        if time.time() < cached[1]:
            return cached[0]
        del _VERIFIED[(token, key)]
        raise AuthError("token expired; log in again")
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired; log in again") from None
    except jwt.InvalidTokenError:
        raise AuthError("invalid token") from None
    sub, version = claims.get("sub"), claims.get("ver", 0)
    if not isinstance(sub, str) or _USER_ID.fullmatch(sub) is None:
        raise AuthError("invalid token")
    if type(version) is not int or not 0 <= version < 2**31:
        raise AuthError("invalid token")
    session_id = claims.get("sid")
    if session_id is not None and (not isinstance(session_id, str) or len(session_id) > 36):
        raise AuthError("invalid token")
    verified = AccessClaims(int(sub), version, session_id)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        del _VERIFIED[next(iter(_VERIFIED))]  # the oldest entry
    _VERIFIED[(token, key)] = (verified, float(claims["exp"]))
    return verified


def random_secret(prefix: str = "", nbytes: int = 32) -> str:
    """A URL-safe random secret with `prefix` in front."""
    return prefix + secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    """SHA-256 hex of a high-entropy secret (API keys, refresh tokens): what we store."""
    return hashlib.sha256(secret.encode()).hexdigest()
