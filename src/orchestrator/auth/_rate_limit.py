"""Request rate limits: `rate` per minute per key, with bursts up to `burst`.

The generic cell rate algorithm (GCRA, the token bucket written as one timestamp per key):
each request moves the key's "theoretical arrival time" (TAT) on by 60/rate seconds; a
request that would push it more than `burst` intervals ahead of now is refused, and the
wait until it would not is the `Retry-After`. In memory for one process; in Redis (one
Lua script, Redis's own clock) when several processes share the limits.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis

KEY_PREFIX = "orch:ratelimit:"
MAX_TRACKED = 100_000  # keys kept in memory before the idle ones are swept


class RateLimiter(Protocol):
    """Counts one request for `key`; answers the seconds to wait when over the limit."""

    async def hit(self, key: str) -> float | None:
        """None when the request may go on, else the seconds until one would be allowed."""
        ...


class MemoryRateLimiter:
    """GCRA in this process's memory."""

    def __init__(
        self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = 60.0 / per_minute
        self.tolerance = self.interval * burst
        self.clock = clock
        self._tat: dict[str, float] = {}

    async def hit(self, key: str) -> float | None:
        """Count a request for `key`."""
        now = self.clock()
        tat = max(self._tat.get(key, now), now) + self.interval
        if tat - now > self.tolerance:
            return tat - now - self.tolerance
        if len(self._tat) >= MAX_TRACKED:
            self._sweep(now)
        self._tat[key] = tat
        return None

    def _sweep(self, now: float) -> None:
        self._tat = {k: t for k, t in self._tat.items() if t > now}


# KEYS[1]: the key; ARGV: interval and tolerance in microseconds. Redis's clock is the one
# every process shares. Answers 0 when allowed, else the microseconds to wait.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
tat = tat + interval
if tat - now > tolerance then
  return tat - now - tolerance
end
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
return 0
"""


class RedisRateLimiter:
    """GCRA in Redis: every process that shares the Redis shares the limits."""

    def __init__(self, redis: Redis, per_minute: int, burst: int) -> None:
        self.redis = redis
        self.interval_us = math.ceil(60_000_000 / per_minute)
        self.tolerance_us = self.interval_us * burst
        self._script = redis.register_script(_GCRA)

    async def hit(self, key: str) -> float | None:
        """Count a request for `key` in Redis."""
        wait = await self._script(
            keys=[KEY_PREFIX + key], args=[self.interval_us, self.tolerance_us]
        )
        return int(wait) / 1_000_000 if int(wait) > 0 else None
