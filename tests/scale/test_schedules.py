"""Schedules on two API processes and two workers sharing Postgres and Redis: all four
run the scheduler, and each due time starts exactly one run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import POSTGRES_URL, REDIS_URL, require_service
from tests.scale.conftest import User, _reachable
from tests.support.cluster import Cluster, pg
from tests.support.scripted_model import Reply, ScriptedModelServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
SCHEDULES_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/8"  # this module's database number


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, scripted: ScriptedModelServer
) -> Iterator[Cluster]:
    """Two API processes and two workers whose schedulers poll every 50 ms."""
    pg_ok, _ = _reachable()
    require_service(f"PostgreSQL at {POSTGRES_URL}", pg_ok)
    import redis

    try:
        redis.Redis.from_url(SCHEDULES_REDIS_URL, socket_timeout=2).ping()
    except (redis.RedisError, OSError):
        require_service(f"Redis at {SCHEDULES_REDIS_URL}", False)
    with Cluster.start(
        POSTGRES_URL,
        SCHEDULES_REDIS_URL,
        scripted.url,
        tmp_path_factory.mktemp("schedules-cluster"),
        SCHEDULE_POLL_SECONDS="0.05",
        SANDBOX="none",
    ) as running:
        yield running


def test_each_due_time_starts_exactly_one_run_across_four_schedulers(
    deployment: Cluster, user: User, model: ScriptedModelServer
) -> None:
    model.default = lambda _body: Reply(text="report written")
    created = user.apis[0].post(
        "/schedules",
        # Daily: the next natural due time is hours away (with */10 the clock once passed a
        # boundary during the test, and that due time's run came on top of the five).
        json={"name": "report", "cron": "0 7 * * *", "goal": "write it", "agent": "assistant"},
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    due_times = 5
    for slot in range(due_times):
        # The due time passes (a distinct instant each time); all four processes see it.
        due = datetime.now(UTC) - timedelta(seconds=1, milliseconds=slot)
        pg(
            deployment.dsn,
            f"UPDATE schedules SET next_run_at = '{due.isoformat()}' WHERE id = '{sid}'",
        )
        deadline = time.monotonic() + 20
        while pg(
            deployment.dsn, f"SELECT 1 FROM schedules WHERE id = '{sid}' AND next_run_at <= now()"
        ):
            assert time.monotonic() < deadline, "nobody claimed the due time"
            time.sleep(0.02)
        time.sleep(0.3)  # six more polls of every scheduler
        count = pg(deployment.dsn, f"SELECT count(*) FROM runs WHERE origin = 'schedule:{sid}'")
        assert count[0][0] == slot + 1, f"due time {slot} started {count[0][0] - slot} runs"
    runs = user.apis[1].get(f"/schedules/{sid}/runs").json()
    assert runs["count"] == due_times
    for run in runs["data"]:
        assert user.wait_for(run["id"], "succeeded", "failed", api=1)["status"] == "succeeded"
    schedule = user.apis[1].get(f"/schedules/{sid}").json()
    assert schedule["last_run_id"] == runs["data"][0]["id"]
