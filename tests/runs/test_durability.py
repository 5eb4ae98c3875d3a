"""A real server process killed with SIGKILL in the middle of a workflow: after a restart
the run carries on from its last finished step, no finished tool call runs or is logged
twice, and its event log has no gap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support import restart
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import free_port


@contextmanager
def server_process(data_dir: Path, model_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {"RUN_LEASE_SECONDS": "2", "APPROVAL_RISKS": ""}
    with restart.server_process(data_dir, model_url, port, env) as proc:
        yield proc


def events(client: httpx.Client, run_id: str) -> list[dict]:
    return client.get(f"/runs/{run_id}/events", params={"limit": 5000}).json()["data"]


def test_kill_9_mid_run_resumes_without_repeating_finished_work(
    tmp_path: Path, model: ScriptedModelServer
) -> None:
    plan = {
        "steps": [
            {"title": "First", "instruction": "compute 2*3"},
            {"title": "Second", "instruction": "compute 4*5 and explain"},
        ]
    }
    model.enqueue(text=json.dumps({"goal": "two sums", "acceptance_criteria": ["both done"]}))
    model.enqueue(text=json.dumps(plan))
    model.enqueue(tool_calls=[("calculate", {"expression": "2*3"})])
    model.enqueue(text="six")
    model.enqueue(tool_calls=[("calculate", {"expression": "4*5"})])
    # The answer to step 2 streams slowly: the server is killed while it streams.
    model.enqueue(text=" ".join(["twenty"] * 200), token_delay=0.05)
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    with server_process(tmp_path, model.url, port) as proc:
        client = httpx.Client(base_url=base, timeout=10)
        client.post("/auth/register", json={"username": "durable", "password": "password-1"})
        token = client.post(
            "/auth/login", json={"username": "durable", "password": "password-1"}
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        run_id = client.post("/runs", json={"goal": "compute two products"}).json()["id"]
        deadline = time.monotonic() + 30
        while not sum(e["type"] == "token" for e in events(client, run_id)) > 5:
            assert time.monotonic() < deadline, "the run never reached step 2's answer"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # After the restart, step 2 starts again: the model repeats its call (replayed from the
    # record, not run), then answers; then verification passes.
    model.enqueue(tool_calls=[("calculate", {"expression": "4*5"})])
    model.enqueue(text="twenty")
    met = {"criterion": "both done", "met": True, "quote": "six"}
    model.enqueue(text=json.dumps({"passed": True, "criteria": [met], "notes": "ok"}))
    with server_process(tmp_path, model.url, port):
        client = httpx.Client(base_url=base, timeout=10, headers=client.headers)
        deadline = time.monotonic() + 30
        while (run := client.get(f"/runs/{run_id}").json())["status"] not in {
            "succeeded",
            "failed",
        }:
            assert time.monotonic() < deadline, f"run stuck in {run['status']}"
            time.sleep(0.2)
        log = events(client, run_id)
    assert run["status"] == "succeeded", run
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    finished = [
        e["data"]["params"]["expression"]
        for e in log
        if e["type"] == "tool" and e["data"]["status"] == "finished"
    ]
    assert finished == ["2*3", "4*5"]  # each call finished (and was logged) exactly once
    step_one = [e for e in log if e["type"] == "step" and e["data"]["index"] == 1]
    assert [e["data"]["status"] for e in step_one] == ["started", "finished"]  # not redone
    assert log[-1]["type"] == "complete" and "twenty" in log[-1]["data"]["content"]
