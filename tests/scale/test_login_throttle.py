"""Failed logins counted in Redis: two processes' throttles on one Redis lock a guesser
out together, as one process's would; in memory they count apart."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
from redis.asyncio import Redis

from orchestrator.auth import MemoryLoginThrottle, RedisLoginThrottle
from orchestrator.core.errors import RateLimited
from tests.conftest import REDIS_URL, require_service

THROTTLE_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/9"

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def _redis() -> None:
    try:
        redis.Redis.from_url(THROTTLE_REDIS_URL, socket_timeout=2).ping()
        reachable = True
    except (redis.RedisError, OSError):
        reachable = False
    require_service(f"Redis at {THROTTLE_REDIS_URL}", reachable)


async def guesses(throttles: list, key: tuple[str, str], tries: int) -> int:
    """How many of `tries` wrong passwords, spread over the throttles in turn, get to be
    checked before one is refused."""
    for n in range(tries):
        throttle = throttles[n % len(throttles)]
        try:
            await throttle.check(key)
        except RateLimited:
            return n
        await throttle.failed(key)
    return tries


def test_two_processes_sharing_redis_lock_out_after_the_limit_in_total() -> None:
    async def run() -> tuple[int, int | None]:
        client = Redis.from_url(THROTTLE_REDIS_URL)
        try:
            one, two = (RedisLoginThrottle(client, 4, 60, 100) for _ in range(2))
            key = (f"victim-{uuid.uuid4().hex[:8]}", "203.0.113.7")
            checked = await guesses([one, two], key, 12)
            try:
                await two.check(key)
                retry_after = None
            except RateLimited as exc:
                retry_after = exc.retry_after
            await one.succeeded(key)
            await two.check(key)  # a success forgets the pair's failures everywhere
            return checked, retry_after
        finally:
            await client.aclose()

    checked, retry_after = asyncio.run(run())
    assert checked == 4
    assert retry_after is not None and 0 < retry_after <= 61


def test_a_client_spraying_usernames_is_locked_out_across_processes() -> None:
    async def run() -> int:
        client = Redis.from_url(THROTTLE_REDIS_URL)
        try:
            throttles = [RedisLoginThrottle(client, 100, 60, 6) for _ in range(2)]
            address = f"198.51.100.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"
            for n in range(20):
                key = (f"user{n}", address)
                try:
                    await throttles[n % 2].check(key)
                except RateLimited:
                    return n
                await throttles[n % 2].failed(key)
            return 20
        finally:
            await client.aclose()

    assert asyncio.run(run()) == 6


def test_in_memory_two_processes_would_count_apart() -> None:
    """Why the throttle goes to Redis with several processes."""
    throttles = [MemoryLoginThrottle(4, 60, 100) for _ in range(2)]
    assert asyncio.run(guesses(throttles, ("victim", "203.0.113.7"), 12)) == 8
