"""A whole five-phase run driven by the scripted model: a failed VERIFY, a REPAIR, success."""

from __future__ import annotations

import json
import re
from typing import Any

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.api.test_runs import wait_for_status
from tests.conftest import Api, scripted_gateway
from tests.support.scripted_model import Reply, ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import CALLS


def enqueue_json(model: ScriptedModelServer, value: dict) -> None:
    model.enqueue(text=json.dumps(value))


def test_workflow_repairs_a_failed_verification(chat_api: Api, model: ScriptedModelServer) -> None:
    user = chat_api.register()
    enqueue_json(model, {"goal": "Sum 1+2 and say it", "acceptance_criteria": ["the sum is 3"]})
    enqueue_json(
        model,
        {
            "steps": [
                {"title": "Add", "instruction": "add 1 and 2"},
                {"title": "Say", "instruction": "state the sum"},
            ]
        },
    )
    model.enqueue(tool_calls=[("add", {"a": 1, "b": 2})])
    model.enqueue(text="1+2 = 3")
    model.enqueue(text="The sum is 4")  # wrong: verification will catch it
    enqueue_json(model, {"passed": False, "failed_steps": [2], "notes": "step 2 says 4"})
    enqueue_json(model, {"steps": [{"title": "Restate", "instruction": "say the sum correctly"}]})
    model.enqueue(text="The sum is 3")
    enqueue_json(
        model,
        {
            "passed": True,
            "criteria": [{"criterion": "the sum is 3", "met": True, "quote": "The sum is 3"}],
            "failed_steps": [],
            "notes": "all good",
        },
    )

    created = chat_api.client.post(
        "/runs", json={"goal": "Add 1 and 2, then say the sum"}, headers=user.headers
    ).json()
    assert created["kind"] == "workflow" and created["agent"] == "planner"
    run = wait_for_status(chat_api, created["id"], user.headers, "succeeded", "failed")
    assert run["status"] == "succeeded", run
    events = chat_api.client.get(f"/runs/{run['id']}/events", headers=user.headers).json()["data"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    phases = [(e["data"]["phase"], e["data"]["status"]) for e in events if e["type"] == "phase"]
    names = [p for p, status in phases if status == "started"]
    assert names == ["spec", "plan", "execute", "verify", "repair", "execute", "verify"]
    steps = [(e["data"]["index"], e["data"]["status"]) for e in events if e["type"] == "step"]
    assert steps == [
        (1, "started"),
        (1, "finished"),
        (2, "started"),
        (2, "finished"),
        (3, "started"),
        (3, "finished"),
    ]
    assert CALLS == ["add"]
    report = events[-1]["data"]["content"]
    assert events[-1]["type"] == "complete" and "The sum is 3" in report and "passed" in report
    assert run["phase"] == "verify" and run["result"] == report
    # Structured phases were asked with a JSON schema (constrained decoding).
    assert model.chat_requests[0].body["format"]["properties"]["acceptance_criteria"]


def test_workflow_fails_cleanly_when_the_model_cannot_plan(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    enqueue_json(model, {"goal": "g", "acceptance_criteria": ["c"]})
    model.enqueue(text="I refuse to write JSON")
    model.enqueue(text="still no JSON")
    run_id = chat_api.client.post("/runs", json={"goal": "g"}, headers=user.headers).json()["id"]
    run = wait_for_status(chat_api, run_id, user.headers, "succeeded", "failed")
    assert run["status"] == "failed" and "valid plan" in run["error"]
    events = chat_api.client.get(f"/runs/{run_id}/events", headers=user.headers).json()["data"]
    assert [e["type"] for e in events][-2:] == ["error", "complete"]


GOAL_FILE = re.compile(r"file (\S+) whose content is exactly: (.+)")


def _forgetful_model(body: dict[str, Any]) -> Reply:
    """A small model: restates goals badly, but does what the prompt in front of it says."""
    schema = body.get("format")
    properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
    if "acceptance_criteria" in properties:  # SPEC: drops the path and the exact content
        return Reply(json.dumps({"goal": "Make a note", "acceptance_criteria": ["a note exists"]}))
    if "steps" in properties:
        step = {"title": "Write it", "instruction": "Create the file the goal asks for."}
        return Reply(json.dumps({"steps": [step]}))
    if "passed" in properties:
        met = {"criterion": "a note exists", "met": True, "quote": "Written."}
        return Reply(json.dumps({"passed": True, "criteria": [met], "notes": "ok"}))
    last = body["messages"][-1]
    if last["role"] == "tool":
        return Reply("Written.")
    found = GOAL_FILE.search(last["content"])
    path, content = found.groups() if found else ("note.txt", "a note")
    return Reply(tool_calls=[("write_file", {"path": path, "content": content})])


def test_workflow_keeps_the_users_exact_path_and_content_despite_a_bad_restatement(
    settings: Settings, model: ScriptedModelServer
) -> None:
    model.default = _forgetful_model
    settings = settings.model_copy(update={"ollama_url": model.url})
    app = create_app(settings, models=scripted_gateway(settings, model))
    goal = "Create the file notes/exact.txt whose content is exactly: Hello, verbatim world 42"
    with serve_in_thread(app) as url:
        api = Api(url)
        user = api.register()
        created = api.client.post("/runs", json={"goal": goal}, headers=user.headers).json()
        run = wait_for_status(api, created["id"], user.headers, "succeeded", "failed")
        api.client.close()
    assert run["status"] == "succeeded", run
    written = settings.workspaces_dir / str(user.id) / "notes" / "exact.txt"
    assert written.read_text() == "Hello, verbatim world 42"
    # Every phase after SPEC saw the goal verbatim, beside the restatement.
    asked = [r.messages[-1] for r in model.chat_requests]
    prompts = [m["content"] for m in asked if m["role"] == "user"]
    assert len(prompts) >= 4 and all(goal in p for p in prompts)
    assert all("Make a note" in p for p in prompts[1:3])
