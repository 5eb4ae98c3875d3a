"""VERIFY quotes its evidence: the step results and the run's tool outputs. A criterion
marked met without a quote found there is not met; failing verification repairs up to
MAX_REPAIR_CYCLES; the verifier model is configurable; a finished workflow run can be
verified again, on the same log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.api.test_runs import wait_for_status
from tests.conftest import Account, Api, sample_tools, scripted_gateway
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread

SPEC = {"goal": "Add 20 and 22", "acceptance_criteria": ["the sum is 42"]}
PLAN = {"steps": [{"title": "Add", "instruction": "add 20 and 22 with the tool"}]}


def verdict(quote: str, met: bool = True, passed: bool = True) -> str:
    check = {"criterion": "the sum is 42", "met": met, "quote": quote}
    return json.dumps({"passed": passed, "criteria": [check], "failed_steps": [], "notes": "n"})


@pytest.fixture
def verifier_api(settings: Settings, model: ScriptedModelServer) -> Iterator[Api]:
    settings = settings.model_copy(
        update={"ollama_url": model.url, "max_repair_cycles": 1, "verifier_model": "plain"}
    )
    app = create_app(settings, models=scripted_gateway(settings, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        yield api
        api.client.close()


def _events(api: Api, user: Account, run_id: str) -> list[dict[str, Any]]:
    return api.client.get(f"/runs/{run_id}/events", headers=user.headers).json()["data"]


def _verdicts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e["data"]["output"]
        for e in events
        if e["type"] == "phase"
        and e["data"]["phase"] == "verify"
        and e["data"]["status"] == "finished"
    ]


def _start(api: Api, model: ScriptedModelServer, user: Account) -> str:
    model.enqueue(text=json.dumps(SPEC))
    model.enqueue(text=json.dumps(PLAN))
    model.enqueue(tool_calls=[("add", {"a": 20, "b": 22})])
    model.enqueue(text="I added them.")  # the step's answer does not say the sum
    created = api.client.post("/runs", json={"goal": "Add 20 and 22"}, headers=user.headers)
    return created.json()["id"]


def test_a_quote_from_a_tool_output_counts_and_the_verifier_model_is_used(
    verifier_api: Api, model: ScriptedModelServer
) -> None:
    user = verifier_api.register()
    run_id = _start(verifier_api, model, user)
    model.enqueue(text=verdict("42"))  # the add tool answered 42
    run = wait_for_status(verifier_api, run_id, user.headers, "succeeded", "failed")
    assert run["status"] == "succeeded", run["error"]
    ask = model.chat_requests[-1]
    assert ask.body["model"] == "plain"  # VERIFIER_MODEL
    prompt = ask.messages[-1]["content"]
    assert "Tool add" in prompt and "I added them." in prompt  # both kinds of evidence
    [checked] = _verdicts(_events(verifier_api, user, run_id))
    assert checked["passed"] is True and checked["criteria"][0]["met"] is True


def test_a_met_criterion_without_a_found_quote_fails_and_is_repaired(
    verifier_api: Api, model: ScriptedModelServer
) -> None:
    user = verifier_api.register()
    run_id = _start(verifier_api, model, user)
    model.enqueue(text=verdict("the sum is 42"))  # invented: no such words in the evidence
    model.enqueue(text=json.dumps({"steps": [{"title": "Say", "instruction": "state the sum"}]}))
    model.enqueue(text="The sum is 42.")
    model.enqueue(text=verdict("The sum is 42."))  # now it is there
    run = wait_for_status(verifier_api, run_id, user.headers, "succeeded", "failed")
    assert run["status"] == "succeeded", run["error"]
    events = _events(verifier_api, user, run_id)
    first, second = _verdicts(events)
    assert first["passed"] is False and first["criteria"][0]["met"] is False
    assert "without a quote found in the evidence" in first["notes"]
    assert second["passed"] is True
    repair = next(m for m in model.chat_requests if "Verification failed" in str(m.messages))
    assert "the sum is 42" in repair.messages[-1]["content"]  # the unmet criterion, named


def test_repairs_stop_at_max_repair_cycles(verifier_api: Api, model: ScriptedModelServer) -> None:
    user = verifier_api.register()
    run_id = _start(verifier_api, model, user)
    model.enqueue(text=verdict("", met=False, passed=False))
    model.enqueue(text=json.dumps({"steps": [{"title": "Again", "instruction": "again"}]}))
    model.enqueue(text="Still unsure.")
    model.enqueue(text=verdict("", met=False, passed=False))  # MAX_REPAIR_CYCLES = 1: done
    run = wait_for_status(verifier_api, run_id, user.headers, "succeeded", "failed")
    assert run["status"] == "failed" and "after 1 repairs" in run["error"]


def test_verify_again_logs_new_phase_events_on_the_same_run(
    verifier_api: Api, model: ScriptedModelServer
) -> None:
    user, other = verifier_api.register(), verifier_api.register()
    run_id = _start(verifier_api, model, user)
    model.enqueue(text=verdict("42"))
    wait_for_status(verifier_api, run_id, user.headers, "succeeded", "failed")
    before = _events(verifier_api, user, run_id)
    last = before[-1]["seq"]

    assert (
        verifier_api.client.post(f"/runs/{run_id}/verify", headers=other.headers).status_code == 404
    )
    assert verifier_api.client.post("/runs/nope/verify", headers=user.headers).status_code == 404
    model.enqueue(text=verdict("43"))  # a quote that is not in the evidence
    again = verifier_api.client.post(f"/runs/{run_id}/verify", headers=user.headers)
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "succeeded"  # the run's outcome is history
    after = _events(verifier_api, user, run_id)
    new = after[len(before) :]
    assert [e["seq"] for e in new] == list(range(last + 1, last + 1 + len(new)))
    # The verifier's model call is accounted (a `usage` event) between the two phases.
    assert [e["type"] for e in new] == ["phase", "usage", "phase"]
    phases = [e for e in new if e["type"] == "phase"]
    assert [(e["data"]["phase"], e["data"]["status"]) for e in phases] == [
        ("verify", "started"),
        ("verify", "finished"),
    ]
    assert phases[1]["data"]["output"]["passed"] is False
    # A model that gives no valid verdict: a failed verification, not a 500.
    model.enqueue(text="no JSON")
    model.enqueue(text="still no JSON")
    broken = verifier_api.client.post(f"/runs/{run_id}/verify", headers=user.headers)
    assert broken.status_code == 200
    final = _verdicts(_events(verifier_api, user, run_id))[-1]
    assert final["passed"] is False and "valid verdict" in final["notes"]


def test_only_finished_workflow_runs_can_be_verified(
    verifier_api: Api, model: ScriptedModelServer
) -> None:
    user = verifier_api.register()
    model.enqueue(text="hello")
    chat = verifier_api.client.post("/chat", json={"message": "hi"}, headers=user.headers).json()
    answer = verifier_api.client.post(f"/runs/{chat['run_id']}/verify", headers=user.headers)
    assert answer.status_code == 409 and answer.json()["code"] == "conflict"
