"""Custom agents (admin CRUD) and delegation to another agent as a nested run."""

from __future__ import annotations

import json
import time

from tests.api.test_runs import wait_for_status
from tests.conftest import Api
from tests.support.scripted_model import ScriptedModelServer
from tests.support.ws import open_socket, receive_until

HELPER = {
    "name": "summer",
    "description": "adds numbers",
    "system_prompt": "You add numbers.",
    "tools": ["add"],
    "max_iterations": 3,
}


def test_admin_manages_custom_agents_and_users_use_them(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    admin, user = chat_api.register(), chat_api.register()
    assert chat_api.client.post("/agents", json=HELPER, headers=user.headers).status_code == 403
    created = chat_api.client.post("/agents", json=HELPER, headers=admin.headers)
    assert created.status_code == 201 and created.json()["builtin"] is False
    assert chat_api.client.post("/agents", json=HELPER, headers=admin.headers).status_code == 409
    names = [a["name"] for a in chat_api.client.get("/agents", headers=user.headers).json()["data"]]
    assert names[-1] == "summer" and "assistant" in names
    changed = chat_api.client.patch(
        "/agents/summer", json={"system_prompt": "Add, carefully."}, headers=admin.headers
    ).json()
    assert changed["system_prompt"] == "Add, carefully." and changed["tools"] == ["add"]
    model.enqueue(text="ok")
    chat_api.client.post("/chat", json={"message": "1+1", "agent": "summer"}, headers=user.headers)
    sent = model.chat_requests[-1].body
    assert sent["messages"][0]["content"].startswith("Add, carefully.\n\nAnswer in the language")
    assert [t["function"]["name"] for t in sent["tools"]] == ["add"]
    assert chat_api.client.delete("/agents/summer", headers=admin.headers).status_code == 204
    assert chat_api.client.get("/agents/summer", headers=user.headers).status_code == 404


def test_agent_definitions_are_validated(chat_api: Api) -> None:
    admin = chat_api.register()
    h = admin.headers
    bad = [
        {**HELPER, "tools": ["rm_rf"]},
        {**HELPER, "name": "Bad Name"},
        {**HELPER, "name": "assistant"},
        {**HELPER, "max_iterations": 0},
        {**HELPER, "system_prompt": ""},
        {**HELPER, "extra": 1},
    ]
    codes = [chat_api.client.post("/agents", json=body, headers=h).status_code for body in bad]
    assert codes == [422, 422, 409, 422, 422, 422]
    assert (
        chat_api.client.patch("/agents/assistant", json={"model": "x"}, headers=h).status_code
        == 403
    )
    assert chat_api.client.delete("/agents/coder", headers=h).status_code == 403
    assert chat_api.client.delete("/agents/ghost", headers=h).status_code == 404


def test_delegate_runs_another_agent_as_a_nested_run(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    admin_made = chat_api.client.post("/agents", json=HELPER, headers=user.headers)
    assert admin_made.status_code == 201  # the first user is the admin
    model.enqueue(tool_calls=[("delegate", {"agent": "summer", "task": "add 2 and 2"})])
    model.enqueue(tool_calls=[("add", {"a": 2, "b": 2})])  # the summer agent's turn
    model.enqueue(text="2+2 is 4")  # its answer
    model.enqueue(text="The summer says 4.")  # the parent's answer
    answer = chat_api.client.post(
        "/chat", json={"message": "ask the analyst"}, headers=user.headers
    ).json()
    assert answer["content"] == "The summer says 4." and answer["tools_used"] == ["delegate"]
    result = json.loads(
        [m["content"] for m in model.chat_requests[-1].messages if m["role"] == "tool"][-1]
    )
    assert result["agent"] == "summer" and result["answer"] == "2+2 is 4"
    child = chat_api.client.get(f"/runs/{result['run_id']}", headers=user.headers).json()
    assert child["parent_run_id"] == answer["run_id"] and child["status"] == "succeeded"
    assert child["agent"] == "summer" and child["kind"] == "task"


def test_delegation_stops_at_the_depth_limit(chat_api: Api, model: ScriptedModelServer) -> None:
    user = chat_api.register()
    model.enqueue(tool_calls=[("delegate", {"agent": "assistant", "task": "level 1"})])
    model.enqueue(tool_calls=[("delegate", {"agent": "assistant", "task": "level 2"})])
    model.enqueue(tool_calls=[("delegate", {"agent": "assistant", "task": "level 3"})])
    model.enqueue(text="level 2 done")
    model.enqueue(text="level 1 done")
    model.enqueue(text="top done")
    answer = chat_api.client.post("/chat", json={"message": "go deep"}, headers=user.headers).json()
    assert answer["content"] == "top done"
    refused = [m["content"] for m in model.chat_requests[3].messages if m["role"] == "tool"][-1]
    assert "depth limit (2)" in refused


def test_cancelling_a_parent_cancels_its_nested_run(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    model.enqueue(tool_calls=[("delegate", {"agent": "assistant", "task": "wait"})])
    model.enqueue(tool_calls=[("slow", {"seconds": 30})])
    with open_socket(chat_api.base_url, "/chat/ws", user.token) as ws:
        ws.send(json.dumps({"message": "delegate a long wait"}))
        parent = receive_until(ws, "tool")[-1]["run_id"]
        deadline = time.monotonic() + 10
        while not (
            children := [
                r
                for r in chat_api.client.get("/runs", headers=user.headers).json()["data"]
                if r["parent_run_id"] == parent and r["status"] == "running"
            ]
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)  # let the child's slow tool start
        begun = time.monotonic()
        ws.send(json.dumps({"type": "cancel", "run_id": parent}))
        assert receive_until(ws, "complete")[-1]["data"]["status"] == "cancelled"
    assert time.monotonic() - begun < 2
    child = wait_for_status(
        chat_api, children[0]["id"], user.headers, "cancelled", "failed", "succeeded"
    )
    assert child["status"] == "cancelled"


def test_patching_required_fields_to_null_is_refused(chat_api: Api) -> None:
    admin = chat_api.register()
    chat_api.client.post("/agents", json=HELPER, headers=admin.headers)
    for field in ("mode", "system_prompt", "description"):
        answer = chat_api.client.patch("/agents/summer", json={field: None}, headers=admin.headers)
        assert answer.status_code == 422, (field, answer.text)
    cleared = chat_api.client.patch("/agents/summer", json={"tools": None}, headers=admin.headers)
    assert cleared.status_code == 200 and cleared.json()["tools"] is None  # null: every tool
