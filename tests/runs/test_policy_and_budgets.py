"""The approval policy by role, and budgets that end a run cleanly with the reason."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.api.test_runs import wait_for_status
from tests.conftest import Api, scripted_gateway
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import CALLS, sample_tools


@pytest.fixture
def policy_api(settings: Settings, model: ScriptedModelServer) -> Iterator[Api]:
    """Commands (exec risk) refused outright to plain users; admins still get asked."""
    settings = settings.model_copy(
        update={
            "ollama_url": model.url,
            "user_refused_risks": ["exec"],
            "run_max_seconds": 1.5,
            "turn_max_tokens": 400,  # above a turn of two calls (the prompt alone is ~60)
        }
    )
    app = create_app(settings, models=scripted_gateway(settings, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        yield Api(url)


def test_exec_refused_for_users_but_asked_for_admins(
    policy_api: Api, model: ScriptedModelServer
) -> None:
    admin, user = policy_api.register(), policy_api.register()
    model.enqueue(tool_calls=[("danger", {"note": "x"})])
    model.enqueue(text="could not")
    answer = policy_api.client.post("/chat", json={"message": "risky"}, headers=user.headers).json()
    assert answer["content"] == "could not" and CALLS == []
    observation = [m["content"] for m in model.chat_requests[-1].messages if m["role"] == "tool"][
        -1
    ]
    assert "exec tools are not allowed for this account" in observation
    audit = policy_api.client.get("/tools/audit", headers=admin.headers).json()["data"][0]
    assert (audit["decision"], audit["status"]) == ("refused", "denied")
    # The admin is asked instead (and here nobody answers before the run's budget ends).
    model.enqueue(tool_calls=[("danger", {"note": "x"})])
    run_id = policy_api.client.post(
        "/runs", json={"goal": "risky", "agent": "assistant"}, headers=admin.headers
    ).json()["id"]
    run = wait_for_status(policy_api, run_id, admin.headers, "failed", "succeeded")
    events = policy_api.client.get(f"/runs/{run_id}/events", headers=admin.headers).json()["data"]
    assert any(e["type"] == "approval_required" for e in events)
    assert run["status"] == "failed" and "time budget (1.5 s)" in run["error"]
    error = next(e for e in events if e["type"] == "error")
    assert error["data"]["code"] == "time_budget" and events[-1]["type"] == "complete"


def test_a_long_run_is_ended_by_its_time_budget(
    policy_api: Api, model: ScriptedModelServer
) -> None:
    user = policy_api.register()
    model.enqueue(tool_calls=[("slow", {"seconds": 30})])
    started = time.monotonic()
    run_id = policy_api.client.post(
        "/runs", json={"goal": "wait", "agent": "assistant"}, headers=user.headers
    ).json()["id"]
    run = wait_for_status(policy_api, run_id, user.headers, "failed", "succeeded")
    took = time.monotonic() - started
    events = policy_api.client.get(f"/runs/{run_id}/events", headers=user.headers).json()["data"]
    timeline = [(e["type"], e["timestamp"]) for e in events]
    assert run["status"] == "failed" and took < 5, (took, timeline)
    assert run["error"] == "the run went over its time budget (1.5 s)"
    # The budget ended the slow tool's call, not the time before the model was asked.
    assert any(e["type"] == "tool" for e in events), (model.pending, timeline)


def test_token_budget_ends_a_turn_with_the_reason(
    policy_api: Api, model: ScriptedModelServer
) -> None:
    user = policy_api.register()
    # A long think before the call uses up the 400 tokens: no further model turn is asked.
    model.enqueue(thinking="hmm " * 500, tool_calls=[("add", {"a": 1, "b": 1})])
    answer = policy_api.client.post("/chat", json={"message": "go"}, headers=user.headers)
    body = answer.json()
    assert body["status"] == "failed" and body["error"]["code"] == "token_budget", json.dumps(body)
