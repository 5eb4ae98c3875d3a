"""Failed-login throttling: failures per (username, client), and per client over every
username; too many lock that key out for `lockout_seconds`.

In memory for one process; in Redis when several API processes (`serve --workers`, or
several `serve`s) share it: otherwise each process would count apart, and a password
guesser spreading its tries over N processes would get N times the tries.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from orchestrator.core.errors import RateLimited
from orchestrator.core.security import digest

if TYPE_CHECKING:  # Redis (and its OpenTelemetry SDK) loads only with REDIS_URL
    from redis.asyncio import Redis

log = logging.getLogger(__name__)
ANY_USERNAME = "*"  # the key that counts a client's failures over every username
KEY_PREFIX = "orch:login:"

Key = tuple[str, str]  # (lower-cased username, client address)


class LoginThrottle(Protocol):
    """What a login asks before checking a password, and tells after."""

    async def check(self, key: Key) -> None:
        """Raise `RateLimited` while `key`, or its client as a whole, is locked out."""
        ...

    async def failed(self, key: Key) -> None:
        """Count a failure against the pair and against its client."""
        ...

    async def succeeded(self, key: Key) -> None:
        """Forget the pair's failures (not its client's)."""
        ...


def _client(key: Key) -> Key:
    return (ANY_USERNAME, key[1])


def _locked_out(limit: int, nth_latest: float, lockout: float, now: float) -> RateLimited:
    retry_after = int(nth_latest + lockout - now) + 1
    return RateLimited(
        f"too many failed logins; try again in {retry_after} s", retry_after=retry_after
    )


@dataclass
class MemoryLoginThrottle:
    """The throttle in this process's memory."""

    max_failures: int
    lockout_seconds: float
    max_client_failures: int = 20
    clock: Callable[[], float] = time.monotonic
    _failures: dict[Key, list[float]] = field(default_factory=dict)

    async def check(self, key: Key) -> None:
        for each, limit in ((key, self.max_failures), (_client(key), self.max_client_failures)):
            recent = self._recent(each)
            if len(recent) >= limit:
                raise _locked_out(limit, recent[-limit], self.lockout_seconds, self.clock())

    async def failed(self, key: Key) -> None:
        now = self.clock()
        self._failures.setdefault(key, []).append(now)
        self._failures.setdefault(_client(key), []).append(now)

    async def succeeded(self, key: Key) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: Key) -> list[float]:
        horizon = self.clock() - self.lockout_seconds
        recent = [t for t in self._failures.get(key, []) if t > horizon]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent


class RedisLoginThrottle:
    """The throttle in Redis: one sorted set of failure times per key, shared by every
    process on that Redis. When Redis fails, logins go on unthrottled (logged), as the
    request rate limit does: an outage of Redis must not lock everyone out."""

    def __init__(
        self,
        redis: Redis,
        max_failures: int,
        lockout_seconds: float,
        max_client_failures: int = 20,
        clock: Callable[[], float] = time.time,  # wall clock: every process reads the same
    ) -> None:
        self.redis = redis
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self.max_client_failures = max_client_failures
        self.clock = clock

    async def check(self, key: Key) -> None:
        now = self.clock()
        limits = ((key, self.max_failures), (_client(key), self.max_client_failures))
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for each, limit in limits:
                    name = self._name(each)
                    pipe.zremrangebyscore(name, "-inf", now - self.lockout_seconds)
                    pipe.zrange(name, -limit, -limit, withscores=True)
                replies = await pipe.execute()
        except Exception:
            log.warning("login throttle unavailable (Redis); login let through", exc_info=True)
            return
        for (_, limit), nth in zip(limits, replies[1::2], strict=True):
            if nth:  # at least `limit` recent failures: the limit-th latest decides
                raise _locked_out(limit, float(nth[0][1]), self.lockout_seconds, now)

    async def failed(self, key: Key) -> None:
        now = self.clock()
        expire = int(self.lockout_seconds) + 1
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for each in (key, _client(key)):
                    name = self._name(each)
                    pipe.zadd(name, {uuid.uuid4().hex: now})
                    pipe.expire(name, expire)
                await pipe.execute()
        except Exception:
            log.warning("login throttle unavailable (Redis); failure not counted", exc_info=True)

    async def succeeded(self, key: Key) -> None:
        try:
            await self.redis.delete(self._name(key))
        except Exception:
            log.warning("login throttle unavailable (Redis)", exc_info=True)

    @staticmethod
    def _name(key: Key) -> str:
        # Usernames are whatever a client sends: hashed, they make a bounded, safe key.
        return f"{KEY_PREFIX}{digest(key[0])[:32]}:{key[1]}"
