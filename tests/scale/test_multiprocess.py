"""Two API processes and two workers on one Postgres and one Redis: any API process
follows, cancels and approves any run, wherever it executes; a worker killed with
SIGKILL mid-run hands the run to another without repeating or losing anything."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from tests.scale.conftest import Follower, User
from tests.support.cluster import BIN, Cluster, pg
from tests.support.scripted_model import Reply, ScriptedModelServer

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def task(user: User, goal: str, api: int) -> str:
    response = user.apis[api].post("/runs", json={"goal": goal, "agent": "assistant"})
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


def brief(events: list[dict]) -> list[tuple[int, str, str]]:
    """Each event's seq, type and text or status: what an assertion shows of a log."""
    return [
        (e["seq"], e["type"], e["data"].get("text") or e["data"].get("status", "")) for e in events
    ]


def assert_gapless(events: list[dict]) -> None:
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_run_submitted_on_one_api_is_followed_on_another_every_seq_once(
    deployment: Cluster, user: User, model: ScriptedModelServer
) -> None:
    model.enqueue(tool_calls=[("calculate", {"expression": "6*7"})])
    model.enqueue(text=" ".join(f"w{i}" for i in range(120)), token_delay=0.005)
    run_id = task(user, "compute 6*7", api=1)
    follower = Follower(deployment.apis[0], user.token, run_id)
    seen = follower.finish()
    assert_gapless(seen)
    assert seen == user.events(run_id, api=1)  # what was streamed is what was logged
    assert seen[-1]["data"]["status"] == "succeeded"
    # Every word came, in order (tokens that arrive together are one event).
    streamed = "".join(e["data"]["text"] for e in seen if e["type"] == "token")
    assert streamed.split() == [f"w{i}" for i in range(120)]
    assert user.apis[0].get(f"/runs/{run_id}").json()["status"] == "succeeded"


def test_approval_sent_to_api_two_unblocks_run_waiting_in_worker(
    deployment: Cluster, user: User, model: ScriptedModelServer
) -> None:
    model.enqueue(tool_calls=[("execute_command", {"command": "echo approved-$((6*7))"})])
    model.enqueue(text="done")
    run_id = task(user, "say it", api=0)
    follower = Follower(deployment.apis[0], user.token, run_id)
    approval_id = user.approval_id(run_id, api=1)
    started = time.monotonic()
    decided = user.apis[1].post(
        f"/runs/{run_id}/approvals/{approval_id}", json={"decision": "approve"}
    )
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    run = user.wait_for(run_id, "succeeded", "failed", api=1)
    assert run["status"] == "succeeded"
    # Woken over Redis, not by the 2 s poll of the approval row.
    assert time.monotonic() - started < 1.5
    seen = follower.finish()
    assert_gapless(seen)
    finished = [e for e in seen if e["type"] == "tool" and e["data"]["status"] == "finished"]
    assert len(finished) == 1 and "approved-42" in finished[0]["data"]["result"]


def test_cancel_sent_to_api_one_stops_command_in_worker_within_two_seconds(
    deployment: Cluster, user: User, model: ScriptedModelServer
) -> None:
    marker = f"sleep {30 + os.getpid() % 1000 / 1000:.3f}"  # a command line we can find
    model.enqueue(tool_calls=[("execute_command", {"command": marker, "timeout": 60})])
    run_id = task(user, "wait a while", api=1)
    approval_id = user.approval_id(run_id, api=1)
    user.apis[1].post(f"/runs/{run_id}/approvals/{approval_id}", json={"decision": "approve"})
    deadline = time.monotonic() + 15
    while subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    started = time.monotonic()
    response = user.apis[0].post(f"/runs/{run_id}/cancel")
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert elapsed < 2.0, f"cancel took {elapsed:.2f} s"
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1
    log = user.events(run_id, api=0)
    assert_gapless(log)
    assert log[-1]["type"] == "complete" and log[-1]["data"]["status"] == "cancelled"


def test_worker_killed_mid_run_is_finished_by_another_without_repeats(
    deployment: Cluster, user: User, model: ScriptedModelServer
) -> None:
    model.enqueue(tool_calls=[("calculate", {"expression": "2*3"})])
    # The answer streams slowly: its worker is killed while it streams.
    model.enqueue(text=" ".join(["six"] * 200), token_delay=0.03)
    run_id = task(user, "compute 2*3", api=1)
    follower = Follower(deployment.apis[0], user.token, run_id)
    deadline = time.monotonic() + 30
    while sum(e["type"] == "token" for e in follower.events) < 20:
        assert time.monotonic() < deadline, "the answer never streamed"
        time.sleep(0.02)
    holder = deployment.holder_pid(run_id)
    assert holder in {p.pid for p in deployment.workers}
    os.kill(holder, signal.SIGKILL)
    # The next worker asks the model again: the call is replayed from its record, not run.
    model.enqueue(tool_calls=[("calculate", {"expression": "2*3"})])
    model.enqueue(text="six, again")
    run = user.wait_for(run_id, "succeeded", "failed", api=0, seconds=30)
    assert run["status"] == "succeeded", (run, brief(user.events(run_id, api=1)))
    assert deployment.holder_pid(run_id) is None
    log = user.events(run_id, api=1)
    assert_gapless(log)
    finished = [e for e in log if e["type"] == "tool" and e["data"]["status"] == "finished"]
    assert len(finished) == 1  # the finished call was neither run nor logged again
    seen = follower.finish()
    # The follower saw every event once, including the lost worker's.
    assert seen == log, (brief(seen), brief(log))
    assert log[-1]["data"]["content"] == "six, again"


def test_doctor_checks_postgres_and_redis_of_deployment(deployment: Cluster) -> None:
    done = subprocess.run([BIN, "doctor"], env=deployment.env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    assert "postgresql" in done.stdout and "redis" in done.stdout
    versions = pg(deployment.dsn, "SELECT version_num FROM alembic_version")
    assert len(versions) == 1  # two concurrent migrations applied the schema once


def test_cancel_sent_just_before_its_worker_is_killed_ends_the_run_cancelled(
    deployment: Cluster, user: User, model: ScriptedModelServer
) -> None:
    model.enqueue(text=" ".join(["slow"] * 400), token_delay=0.03)
    run_id = task(user, "talk for a while", api=0)
    follower = Follower(deployment.apis[1], user.token, run_id)
    deadline = time.monotonic() + 30
    while sum(e["type"] == "token" for e in follower.events) < 5:
        assert time.monotonic() < deadline, "the answer never streamed"
        time.sleep(0.02)
    holder = deployment.holder_pid(run_id)
    assert holder in {p.pid for p in deployment.workers}
    # The holder is frozen: the cancel is sent, and it cannot act on it before it dies.
    os.kill(holder, signal.SIGSTOP)
    cancelling = threading.Thread(target=lambda: user.apis[0].post(f"/runs/{run_id}/cancel"))
    cancelling.start()
    while not pg(
        deployment.dsn,
        f"SELECT 1 FROM runs WHERE id = '{run_id}' AND cancel_requested_at IS NOT NULL",
    ):
        assert time.monotonic() < deadline + 10, "the cancel was never stored"
        time.sleep(0.02)
    os.kill(holder, signal.SIGKILL)
    cancelling.join(30)
    # Another worker takes the run over when its lease expires, and ends it at once.
    run = user.wait_for(run_id, "cancelled", "succeeded", "failed", api=1, seconds=30)
    assert run["status"] == "cancelled"
    log = user.events(run_id, api=1)
    assert_gapless(log)
    assert log[-1]["type"] == "complete" and log[-1]["data"]["status"] == "cancelled"
    assert follower.finish() == log
    assert len(model.chat_requests) == 1  # nobody asked the model to carry on


def test_queued_run_is_cancelled_before_a_worker_takes_it(
    deployment: Cluster, user: User, model: ScriptedModelServer
) -> None:
    for worker in deployment.workers:  # every worker busy elsewhere: the run stays queued
        os.kill(worker.pid, signal.SIGSTOP)
    try:
        run_id = task(user, "never started", api=0)
        assert user.apis[1].get(f"/runs/{run_id}").json()["status"] == "queued"
        response = user.apis[1].post(f"/runs/{run_id}/cancel")
        assert response.status_code == 200 and response.json()["status"] == "cancelled"
    finally:
        for worker in deployment.workers:
            os.kill(worker.pid, signal.SIGCONT)
    deployment.wait_until_up()
    time.sleep(1)  # the workers take its job from the queue, and leave it alone
    log = user.events(run_id, api=0)
    assert [(e["type"], e["data"]["status"]) for e in log] == [("complete", "cancelled")]
    assert user.apis[0].get(f"/runs/{run_id}").json()["status"] == "cancelled"
    assert model.chat_requests == []


def freeze_outside_a_transaction(deployment: Cluster, pid: int) -> None:
    """SIGSTOP the process between two of its transactions: one frozen inside would keep
    the run's row locked, and nobody could take the run over until it woke."""
    for _ in range(100):
        os.kill(pid, signal.SIGSTOP)
        time.sleep(0.2)  # its statements in flight end
        if not pg(
            deployment.dsn,
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
            " AND state LIKE 'idle in transaction%'",
        ):
            return
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("the process was always inside a transaction")


def test_worker_frozen_past_its_lease_is_fenced_off_when_it_wakes(
    deployment: Cluster, user: User, model: ScriptedModelServer
) -> None:
    model.enqueue(text=" ".join(["old"] * 300), token_delay=0.02)
    run_id = task(user, "talk for a while", api=1)
    follower = Follower(deployment.apis[0], user.token, run_id)
    deadline = time.monotonic() + 30
    while sum(e["type"] == "token" for e in follower.events) < 20:
        assert time.monotonic() < deadline, "the answer never streamed"
        time.sleep(0.02)
    frozen = deployment.holder_pid(run_id)
    assert frozen in {p.pid for p in deployment.workers}
    # Frozen (load, GC, SIGSTOP) past its 2 s lease: another worker takes the run over.
    model.enqueue(text=" ".join(["new"] * 150), token_delay=0.02)
    freeze_outside_a_transaction(deployment, frozen)
    try:
        while deployment.holder_pid(run_id) in {frozen, None}:
            assert time.monotonic() < deadline + 20, "nobody took the run over"
            time.sleep(0.05)
        while sum(e["data"].get("text", "").strip() == "new" for e in follower.events) < 5:
            assert time.monotonic() < deadline + 30, "the new holder never streamed"
            time.sleep(0.02)
    finally:
        # It wakes while the new holder streams, its model's reply still buffered.
        os.kill(frozen, signal.SIGCONT)
    run = user.wait_for(run_id, "succeeded", "failed", api=0, seconds=30)
    assert run["status"] == "succeeded"
    log = user.events(run_id, api=1)
    assert_gapless(log)
    assert follower.finish() == log  # nothing the old holder said after it lost the lease
    assert log[-1]["data"]["content"].split() == ["new"] * 150
    time.sleep(0.5)  # whatever the old holder still had to say has been said by now
    assert user.events(run_id, api=1) == log
    assert any(p.pid == frozen and p.poll() is None for p in deployment.workers)


def test_concurrent_run_quota_holds_across_both_api_processes(
    deployment: Cluster, user: User, model: ScriptedModelServer
) -> None:
    """Twelve starts at once, half on each API process, for a user allowed two runs at a
    time: exactly two are admitted (the user's row is locked while one is admitted)."""
    me = user.apis[0].get("/auth/me").json()["id"]
    pg(
        deployment.dsn,
        "INSERT INTO user_quotas (user_id, concurrent_runs, updated_at) "
        f"VALUES ({int(me)}, 2, now())",
    )
    model.default = lambda body: Reply(tool_calls=[("execute_command", {"command": "true"})])
    barrier = threading.Barrier(12)
    answers: list[int] = []

    def start(index: int) -> None:
        barrier.wait()
        response = user.apis[index % 2].post("/runs", json={"goal": "g", "agent": "assistant"})
        answers.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["code"] == "quota_exceeded"

    threads = [threading.Thread(target=start, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(answers) == [201, 201] + [429] * 10
    runs = user.apis[1].get("/runs").json()["data"]
    assert len(runs) == 2
    for run in runs:
        user.apis[0].post(f"/runs/{run['id']}/cancel")
        user.wait_for(run["id"], "cancelled")
