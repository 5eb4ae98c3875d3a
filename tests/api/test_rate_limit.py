"""Rate limits on the whole API: per user, or per client address when anonymous; 429 with
`Retry-After`; shared by every process on one Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
import redis

from orchestrator.app import create_app
from orchestrator.auth import MemoryRateLimiter
from orchestrator.core.config import Settings
from tests.conftest import REDIS_URL, Api, require_service
from tests.support.server import serve_in_thread

LIMIT_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/5"  # this suite's own database number
BURST = 5


def limited(settings: Settings, **extra: object) -> Settings:
    return settings.model_copy(
        update={"rate_limit_per_minute": 2, "rate_limit_burst": BURST, **extra}
    )


@pytest.fixture
def limited_api(settings: Settings) -> Iterator[Api]:
    with serve_in_thread(create_app(limited(settings))) as url:
        api = Api(url)
        yield api
        api.client.close()


def test_memory_limiter_allows_a_burst_then_one_request_per_interval() -> None:
    now = [1000.0]
    limiter = MemoryRateLimiter(per_minute=60, burst=3, clock=lambda: now[0])

    async def hits(n: int) -> list[float | None]:
        return [await limiter.hit("u:1") for _ in range(n)]

    assert asyncio.run(hits(3)) == [None, None, None]
    (wait,) = asyncio.run(hits(1))
    assert wait is not None and 0 < wait <= 1.0
    assert asyncio.run(limiter.hit("u:2")) is None  # keys are apart
    now[0] += 1.0
    assert asyncio.run(hits(2)) == [None, pytest.approx(1.0)]


def test_a_user_over_the_limit_gets_429_and_others_are_not_affected(
    settings: Settings,
) -> None:
    # Accounts are made on an unlimited server first: their logins are not what we count.
    with serve_in_thread(create_app(settings)) as url:
        api = Api(url)
        alice, bob = api.register(), api.register()
        api.client.close()
    with serve_in_thread(create_app(limited(settings))) as url:
        api = Api(url)
        codes = [api.client.get("/auth/me", headers=alice.headers).status_code for _ in range(8)]
        assert codes[:BURST] == [200] * BURST and codes[BURST:] == [429] * (8 - BURST)
        refused = api.client.get("/conversations", headers=alice.headers)
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert api.client.get("/auth/me", headers=bob.headers).status_code == 200
        assert api.client.get("/auth/me").status_code == 401  # anonymous: its own address
        assert api.client.get("/system/health").status_code == 200
        api.client.close()


def test_a_429_carries_the_cors_headers_a_browser_needs_to_read_it(settings: Settings) -> None:
    """The limiter sits inside CORS: a web app on another origin can read `Retry-After`."""
    app = create_app(limited(settings, cors_origins=["http://good.example"]))
    with serve_in_thread(app) as url:
        origin = {"Origin": "http://good.example"}
        answers = [httpx.get(f"{url}/api/v1/auth/me", headers=origin) for _ in range(BURST + 2)]
    refused = answers[-1]
    assert [a.status_code for a in answers][:BURST] == [401] * BURST
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert refused.headers["access-control-allow-origin"] == "http://good.example"
    assert "retry-after" in refused.headers


def test_anonymous_requests_are_limited_per_address_and_health_stays_exempt(
    limited_api: Api,
) -> None:
    codes = [
        limited_api.client.post("/auth/login", json={"username": "x", "password": "y"}).status_code
        for _ in range(BURST + 2)
    ]
    assert 429 in codes and codes[0] == 401
    bad_token = {"Authorization": "Bearer forged.token.here"}
    assert limited_api.client.get("/auth/me", headers=bad_token).status_code == 429
    for _ in range(3 * BURST):
        assert limited_api.client.get("/system/health").status_code == 200
    # The web app's pages are not the API.
    assert httpx.get(f"{limited_api.base_url}/settings").status_code == 200


def test_limits_hold_across_processes_sharing_redis(settings: Settings) -> None:
    try:
        store = redis.Redis.from_url(LIMIT_REDIS_URL, socket_timeout=2)
        store.flushdb()
    except (redis.RedisError, OSError):
        require_service(f"Redis at {LIMIT_REDIS_URL}", False)
    with serve_in_thread(create_app(settings)) as url:
        api = Api(url)
        user = api.register()
        api.client.close()
    shared = limited(settings, redis_url=LIMIT_REDIS_URL)
    with (
        serve_in_thread(create_app(shared)) as first,
        serve_in_thread(create_app(shared)) as second,
    ):
        one, two = Api(first), Api(second)
        codes = []
        for n in range(BURST + 3):
            api = one if n % 2 == 0 else two
            codes.append(api.client.get("/auth/me", headers=user.headers).status_code)
        assert codes[:BURST] == [200] * BURST and set(codes[BURST:]) == {429}, codes
        refused = two.client.get("/auth/me", headers=user.headers)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        one.client.close()
        two.client.close()
    assert store.keys("orch:ratelimit:*")
    store.flushdb()
