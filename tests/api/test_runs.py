"""Runs over HTTP: create, list, events, cancel, and isolation between users."""

from __future__ import annotations

import time

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import Api
from tests.support.scripted_model import ScriptedModelServer
from tests.support.ws import open_socket


def wait_for_status(api: Api, run_id: str, headers: dict[str, str], *statuses: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        run = api.client.get(f"/runs/{run_id}", headers=headers).json()
        if run["status"] in statuses:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run stayed {run['status']}")


def test_task_run_reaches_its_goal_and_logs_complete_last(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    model.enqueue(tool_calls=[("add", {"a": 1, "b": 2})])
    model.enqueue(text="Three.")
    created = chat_api.client.post(
        "/runs", json={"goal": "add 1 and 2", "agent": "analyst"}, headers=user.headers
    )
    assert created.status_code == 201 and created.json()["status"] == "queued"
    run = wait_for_status(chat_api, created.json()["id"], user.headers, "succeeded", "failed")
    assert run["status"] == "succeeded" and run["result"] == "Three." and run["agent"] == "analyst"
    events = chat_api.client.get(f"/runs/{run['id']}/events", headers=user.headers).json()
    assert (
        events["data"][-1]["type"] == "complete"
        and events["data"][-1]["data"]["status"] == "succeeded"
    )
    assert events["count"] == len(events["data"]) == run["last_seq"]
    listing = chat_api.client.get(
        "/runs", params={"status": "succeeded"}, headers=user.headers
    ).json()
    assert [r["id"] for r in listing["data"]] == [run["id"]]


def test_agent_allowlist_limits_the_tools_offered(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    model.enqueue(text="fine")
    chat_api.client.post("/chat", json={"message": "hi", "agent": "writer"}, headers=user.headers)
    # The writer may use only file tools; none of the test tools is among them.
    assert not model.chat_requests[0].body.get("tools")


def test_another_users_run_answers_404_everywhere(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    owner, intruder = chat_api.register(), chat_api.register()
    model.enqueue(tool_calls=[("slow", {"seconds": 30})])
    run_id = chat_api.client.post(
        "/runs", json={"goal": "wait", "agent": "assistant"}, headers=owner.headers
    ).json()["id"]
    wait_for_status(chat_api, run_id, owner.headers, "running")
    h = intruder.headers
    missing = "00000000-0000-0000-0000-000000000000"
    for path in (f"/runs/{run_id}", f"/runs/{run_id}/events", f"/runs/{missing}"):
        assert chat_api.client.get(path, headers=h).status_code == 404
    assert chat_api.client.post(f"/runs/{run_id}/cancel", headers=h).status_code == 404
    assert (
        chat_api.client.post(
            f"/runs/{run_id}/approvals/{missing}", json={"decision": "approve"}, headers=h
        ).status_code
        == 404
    )
    assert chat_api.client.get("/runs", headers=h).json()["count"] == 0
    with (
        open_socket(chat_api.base_url, f"/runs/{run_id}/ws", intruder.token) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4404
    # The owner still can, and cancel ends it.
    cancelled = chat_api.client.post(f"/runs/{run_id}/cancel", headers=owner.headers).json()
    assert cancelled["status"] == "cancelled"
    assert chat_api.client.post(f"/runs/{run_id}/cancel", headers=owner.headers).status_code == 409


def test_run_bad_input_is_4xx(chat_api: Api) -> None:
    h = chat_api.register().headers
    assert chat_api.client.post("/runs", json={"goal": ""}, headers=h).status_code == 422
    assert (
        chat_api.client.post("/runs", json={"goal": "x", "agent": "nobody"}, headers=h).status_code
        == 404
    )
    assert (
        chat_api.client.post("/runs", json={"goal": "x", "model": "ghost"}, headers=h).status_code
        == 404
    )
    assert chat_api.client.get("/runs", params={"status": "weird"}, headers=h).status_code == 422
    assert chat_api.client.get("/runs/x/events", params={"after": -1}, headers=h).status_code == 422


def test_tools_list_shows_schema_risk_and_stats(chat_api: Api, model: ScriptedModelServer) -> None:
    admin, user = chat_api.register(), chat_api.register()
    model.enqueue(tool_calls=[("add", {"a": 1, "b": 1})])
    model.enqueue(text="2")
    chat_api.client.post("/chat", json={"message": "1+1"}, headers=user.headers)
    tools = {
        t["name"]: t for t in chat_api.client.get("/tools", headers=user.headers).json()["data"]
    }
    assert tools["add"]["parameters"]["required"] == ["a", "b"]
    assert tools["add"]["stats"]["calls"] == 1 and tools["add"]["stats"]["mean_ms"] is not None
    assert tools["danger"]["risk"] == "exec" and tools["danger"]["requires_approval"] is True
    assert (
        chat_api.client.patch(
            "/tools/add", json={"enabled": False}, headers=user.headers
        ).status_code
        == 403
    )
    off = chat_api.client.patch("/tools/add", json={"enabled": False}, headers=admin.headers).json()
    assert off["enabled"] is False
    model.enqueue(text="no tools for you")
    chat_api.client.post("/chat", json={"message": "1+1"}, headers=user.headers)
    offered = {t["function"]["name"] for t in model.chat_requests[-1].body["tools"]}
    assert "add" not in offered and "slow" in offered
    assert chat_api.client.get("/tools/nope", headers=user.headers).status_code == 404
    assert chat_api.client.get("/tools/audit", headers=user.headers).status_code == 403


def test_agents_and_models_are_listed(chat_api: Api) -> None:
    h = chat_api.register().headers
    agents = chat_api.client.get("/agents", headers=h).json()
    assert agents["count"] >= 6 and {"assistant", "coder", "researcher"} <= {
        a["name"] for a in agents["data"]
    }
    assert chat_api.client.get("/agents/coder", headers=h).json()["tools"]
    assert chat_api.client.get("/agents/nobody", headers=h).status_code == 404
    models = chat_api.client.get("/system/models", headers=h).json()["data"]
    scripted = next(m for m in models if m["name"] == "scripted")
    assert "tools" in scripted["capabilities"] and scripted["provider"] == "ollama"
