"""A deployment of two API processes and two workers on the local Postgres and Redis,
shared by the tests of this folder (starting processes is the slow part); Redis is
flushed and the scripted model reset before each test."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest
import redis

from tests.conftest import POSTGRES_URL, REDIS_URL, require_service
from tests.support.cluster import Cluster, pg
from tests.support.scripted_model import ScriptedModelServer
from tests.support.ws import open_socket

SCALE_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/13"  # a database number of its own


def _reachable() -> tuple[bool, bool]:
    try:
        redis.Redis.from_url(SCALE_REDIS_URL, socket_timeout=2).ping()
        redis_ok = True
    except (redis.RedisError, OSError):
        redis_ok = False
    try:
        pg(POSTGRES_URL, "SELECT 1")
        pg_ok = True
    except (OSError, asyncpg.PostgresError):
        pg_ok = False
    return pg_ok, redis_ok


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, scripted: ScriptedModelServer
) -> Iterator[Cluster]:
    """Two API processes and two workers (APPROVAL_RISKS=exec: commands need approval)."""
    pg_ok, redis_ok = _reachable()
    require_service(f"PostgreSQL at {POSTGRES_URL}", pg_ok)
    require_service(f"Redis at {SCALE_REDIS_URL}", redis_ok)
    with Cluster.start(
        POSTGRES_URL,
        SCALE_REDIS_URL,
        scripted.url,
        tmp_path_factory.mktemp("cluster"),
        APPROVAL_RISKS="exec",
        SANDBOX="none",
    ) as running:
        yield running


@pytest.fixture
def deployment(cluster: Cluster, model: ScriptedModelServer) -> Iterator[Cluster]:
    """The cluster with two live workers, Redis flushed (the queue emptied)."""
    redis.Redis.from_url(cluster.redis_url).flushdb()
    cluster.workers = [p for p in cluster.workers if p.poll() is None]
    while len(cluster.workers) < 2:
        cluster.add_worker()
    cluster.wait_until_up()
    model.token_delay = 0.0
    yield cluster


class User:
    """An account, with one HTTP client per API process."""

    def __init__(self, cluster: Cluster) -> None:
        name = f"u{uuid.uuid4().hex[:8]}"
        first = httpx.Client(base_url=f"{cluster.apis[0]}/api/v1", timeout=30)
        first.post("/auth/register", json={"username": name, "password": "password-1"})
        body = first.post("/auth/login", json={"username": name, "password": "password-1"})
        self.token = body.json()["access_token"]
        headers = {"Authorization": f"Bearer {self.token}"}
        self.apis = [
            httpx.Client(base_url=f"{url}/api/v1", timeout=30, headers=headers)
            for url in cluster.apis
        ]

    def events(self, run_id: str, api: int = 0) -> list[dict[str, Any]]:
        response = self.apis[api].get(f"/runs/{run_id}/events", params={"limit": 5000})
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    def approval_id(self, run_id: str, api: int = 0, seconds: float = 30) -> str:
        """The id of the approval the run asks for, once it asks."""
        deadline = time.monotonic() + seconds
        while True:
            asked = [e for e in self.events(run_id, api) if e["type"] == "approval_required"]
            if asked:
                approval_id: str = asked[-1]["data"]["approval_id"]
                return approval_id
            assert time.monotonic() < deadline, f"run {run_id} never asked for an approval"
            time.sleep(0.05)

    def wait_for(self, run_id: str, *statuses: str, api: int = 0, seconds: float = 30) -> dict:
        deadline = time.monotonic() + seconds
        while (run := self.apis[api].get(f"/runs/{run_id}").json())["status"] not in statuses:
            assert time.monotonic() < deadline, f"run {run_id} stuck in {run['status']}"
            time.sleep(0.05)
        return run


@pytest.fixture
def user(deployment: Cluster) -> User:
    return User(deployment)


class Follower(threading.Thread):
    """A WebSocket client following one run on one API process until `complete`."""

    def __init__(self, base_url: str, token: str, run_id: str) -> None:
        super().__init__(daemon=True)
        self.socket = open_socket(base_url, f"/runs/{run_id}/ws", token)
        self.events: list[dict[str, Any]] = []
        self.start()

    def run(self) -> None:
        with self.socket:
            while True:
                event = json.loads(self.socket.recv(timeout=60))
                self.events.append(event)
                if event["type"] == "complete":
                    return

    def seqs(self) -> list[int]:
        return [e["seq"] for e in self.events]

    def finish(self, seconds: float = 30) -> list[dict[str, Any]]:
        self.join(seconds)
        assert not self.is_alive(), f"no complete after {len(self.events)} events"
        return self.events
