"""Chat over HTTP and WebSocket against a real server and the scripted model."""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import Api
from tests.support.scripted_model import ScriptedModelServer
from tests.support.tools import CALLS
from tests.support.ws import open_socket, receive_until


def assert_seq_contiguous(events: list[dict]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs


def test_post_chat_answers_and_stores_both_messages(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    model.enqueue(text="Hello there, friend")
    answer = chat_api.client.post(
        "/chat", json={"message": "Say hello"}, headers=user.headers
    ).json()
    assert answer["content"] == "Hello there, friend" and answer["status"] == "succeeded"
    messages = chat_api.client.get(
        f"/conversations/{answer['conversation_id']}/messages", headers=user.headers
    ).json()["data"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "Say hello"),
        ("assistant", "Hello there, friend"),
    ]
    conversation = chat_api.client.get(
        f"/conversations/{answer['conversation_id']}", headers=user.headers
    )
    assert conversation.json()["title"] == "Say hello"


def test_tool_result_goes_back_to_the_model(chat_api: Api, model: ScriptedModelServer) -> None:
    user = chat_api.register()
    model.enqueue(tool_calls=[("add", {"a": 2, "b": 3})])
    model.enqueue(text="The sum is 5")
    answer = chat_api.client.post("/chat", json={"message": "2+3?"}, headers=user.headers).json()
    assert answer["content"] == "The sum is 5" and answer["tools_used"] == ["add"]
    second = model.chat_requests[-1].messages
    assert second[-1]["role"] == "tool" and second[-1]["content"] == "5"
    stored = chat_api.client.get(
        f"/conversations/{answer['conversation_id']}/messages", headers=user.headers
    ).json()["data"][-1]["tools_used"]
    assert [(c["name"], c["params"], c["status"], c["result"]) for c in stored] == [
        ("add", {"a": 2, "b": 3}, "finished", "5")
    ]
    assert stored[0]["duration_ms"] is not None and stored[0]["call_id"]
    assert {t["function"]["name"] for t in model.chat_requests[0].body["tools"]} >= {"add", "slow"}


def test_websocket_streams_tokens_tools_and_complete_in_order(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    model.enqueue(thinking="I should add", tool_calls=[("add", {"a": 20, "b": 22})])
    model.enqueue(text="It is 42, as computed")
    with open_socket(chat_api.base_url, "/chat/ws", user.token) as ws:
        ws.send(json.dumps({"message": "20+22?"}))
        events = receive_until(ws, "complete")
    assert_seq_contiguous(events)
    assert events[0]["seq"] == 1
    kinds = [e["type"] for e in events]
    assert "thinking" in kinds and kinds.count("tool") == 2 and kinds[-1] == "complete"
    tools = [e["data"] for e in events if e["type"] == "tool"]
    assert [t["status"] for t in tools] == ["started", "finished"] and tools[1]["result"] == "42"
    assert (
        "".join(e["data"]["text"] for e in events if e["type"] == "token")
        == "It is 42, as computed"
    )
    done = events[-1]["data"]
    assert done["content"] == "It is 42, as computed" and done["tools_used"] == ["add"]
    assert done["message_id"] and done["conversation_id"] and done["run_id"] == events[0]["run_id"]
    assert all({"type", "data", "timestamp", "run_id", "seq"} <= set(e) for e in events)


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_websocket_without_valid_token_closes_4401(chat_api: Api, token: str | None) -> None:
    with open_socket(chat_api.base_url, "/chat/ws", token) as ws:
        if token is None:
            ws.send(json.dumps({"message": "hi"}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=15)
    assert closed.value.rcvd.code == 4401


def test_websocket_auth_by_first_message(chat_api: Api, model: ScriptedModelServer) -> None:
    user = chat_api.register()
    model.enqueue(text="ok")
    with open_socket(chat_api.base_url, "/chat/ws") as ws:
        ws.send(json.dumps({"type": "auth", "token": user.token}))
        ws.send(json.dumps({"message": "hi"}))
        assert receive_until(ws, "complete")[-1]["data"]["content"] == "ok"


def test_bad_socket_messages_get_errors_and_the_socket_lives_on(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    model.enqueue(text="still here")
    with open_socket(chat_api.base_url, "/chat/ws", user.token) as ws:
        for bad in (
            "not json",
            json.dumps({"type": "nope"}),
            json.dumps({"message": ""}),
            json.dumps({"type": "cancel", "run_id": "00000000-0000-0000-0000-000000000000"}),
        ):
            ws.send(bad)
            error = json.loads(ws.recv(timeout=10))
            assert error["type"] == "error" and error["data"]["code"] in {
                "invalid_message",
                "not_found",
            }
        ws.send(json.dumps({"message": "hi"}))
        assert receive_until(ws, "complete")[-1]["data"]["content"] == "still here"


@pytest.mark.parametrize("path", ["/chat/ws", "/runs/{run_id}/ws"])
def test_binary_frames_and_deeply_nested_json_get_errors_and_the_server_serves_on(
    chat_api: Api, model: ScriptedModelServer, path: str
) -> None:
    user, other = chat_api.register(), chat_api.register()
    model.enqueue(text="first")
    first = chat_api.client.post("/chat", json={"message": "hi"}, headers=user.headers).json()
    with open_socket(chat_api.base_url, path.format(run_id=first["run_id"]), user.token) as ws:
        if "runs" in path:
            receive_until(ws, "complete")  # the replayed log
        for bad in (b"\x00\x01binary", "[" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
            ws.send(bad)
            error = json.loads(ws.recv(timeout=10))
            assert error["type"] == "error" and error["data"]["code"] == "invalid_message"
            assert "Traceback" not in error["data"]["message"]
        if "chat" in path:  # the same socket still chats
            model.enqueue(text="still here")
            ws.send(json.dumps({"message": "hi"}))
            assert receive_until(ws, "complete")[-1]["data"]["content"] == "still here"
    model.enqueue(text="other user")  # and the server still serves everyone
    answer = chat_api.client.post("/chat", json={"message": "hi"}, headers=other.headers)
    assert answer.status_code == 200 and answer.json()["content"] == "other user"


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_risky_call_waits_for_the_users_decision(
    chat_api: Api, model: ScriptedModelServer, settings, decision: str
) -> None:
    user = chat_api.register()
    model.enqueue(tool_calls=[("danger", {"note": "marker"})])
    model.enqueue(text="finished")
    with open_socket(chat_api.base_url, "/chat/ws", user.token) as ws:
        ws.send(json.dumps({"message": "do the risky thing"}))
        asked = receive_until(ws, "approval_required")[-1]
        assert asked["data"]["tool"] == "danger" and asked["data"]["risk"] == "exec"
        run = chat_api.client.get(f"/runs/{asked['run_id']}", headers=user.headers).json()
        assert run["status"] == "waiting" and CALLS == []
        ws.send(
            json.dumps(
                {
                    "type": "approval",
                    "approval_id": asked["data"]["approval_id"],
                    "decision": decision,
                }
            )
        )
        events = receive_until(ws, "complete")
    outcome = [e["data"] for e in events if e["type"] == "tool"][-1]
    marker = settings.workspaces_dir / str(user.id) / "danger.txt"
    if decision == "approve":
        assert outcome["status"] == "finished" and marker.read_text() == "marker"
    else:
        assert outcome["status"] == "denied" and not marker.exists() and CALLS == []
    audit = chat_api.client.get("/tools/audit", params={"tool": "danger"}, headers=user.headers)
    assert audit.status_code == 200  # the first user is the admin
    assert audit.json()["data"][0]["decision"] == (
        "approved" if decision == "approve" else "denied"
    )


def test_approval_over_http_and_never_for_another_user(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    owner, intruder = chat_api.register(), chat_api.register()
    model.enqueue(tool_calls=[("danger", {"note": "x"})])
    model.enqueue(text="done")
    with open_socket(chat_api.base_url, "/chat/ws", owner.token) as ws:
        ws.send(json.dumps({"message": "risky"}))
        asked = receive_until(ws, "approval_required")[-1]
        run_id, aid = asked["run_id"], asked["data"]["approval_id"]
        path = f"/runs/{run_id}/approvals/{aid}"
        stolen = chat_api.client.post(path, json={"decision": "approve"}, headers=intruder.headers)
        assert stolen.status_code == 404
        ok = chat_api.client.post(path, json={"decision": "approve"}, headers=owner.headers)
        assert ok.json() == {"approval_id": aid, "status": "approved"}
        assert (
            chat_api.client.post(path, json={"decision": "deny"}, headers=owner.headers).status_code
            == 409
        )
        assert receive_until(ws, "complete")[-1]["data"]["status"] == "succeeded"


def test_cancel_stops_a_running_tool_quickly(chat_api: Api, model: ScriptedModelServer) -> None:
    user = chat_api.register()
    model.enqueue(tool_calls=[("slow", {"seconds": 30})])
    with open_socket(chat_api.base_url, "/chat/ws", user.token) as ws:
        ws.send(json.dumps({"message": "wait a long time"}))
        started = receive_until(ws, "tool")[-1]
        begun = time.monotonic()
        ws.send(json.dumps({"type": "cancel", "run_id": started["run_id"]}))
        done = receive_until(ws, "complete")[-1]
    assert done["data"]["status"] == "cancelled" and time.monotonic() - begun < 2
    run = chat_api.client.get(f"/runs/{started['run_id']}", headers=user.headers).json()
    assert run["status"] == "cancelled" and run["finished_at"]


def test_model_server_down_is_a_clear_503_and_keeps_the_message(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    model.enqueue(error=(500, "the model crashed"))
    answer = chat_api.client.post("/chat", json={"message": "are you there?"}, headers=user.headers)
    assert answer.status_code in (502, 503) and answer.json()["detail"]
    cid = answer.json()["conversation_id"]
    kept = chat_api.client.get(f"/conversations/{cid}/messages", headers=user.headers).json()[
        "data"
    ]
    assert kept[0]["content"] == "are you there?"


def test_unknown_model_is_404_before_anything_runs(chat_api: Api) -> None:
    user = chat_api.register()
    answer = chat_api.client.post(
        "/chat", json={"message": "hi", "model": "no-such-model"}, headers=user.headers
    )
    assert answer.status_code == 404 and "no-such-model" in answer.json()["detail"]
    assert chat_api.client.get("/conversations", headers=user.headers).json()["count"] == 0


def test_stream_cut_mid_answer_keeps_what_was_said(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    model.enqueue(text="one two three four five six", cut_after=3)
    with open_socket(chat_api.base_url, "/chat/ws", user.token) as ws:
        ws.send(json.dumps({"message": "count"}))
        events = receive_until(ws, "complete")
    error = next(e for e in events if e["type"] == "error")
    assert error["data"]["code"] == "stream_interrupted"
    partial = events[-1]["data"]["content"]
    assert partial.startswith("one two") and events[-1]["data"]["status"] == "failed"
    messages = chat_api.client.get(
        f"/conversations/{events[-1]['data']['conversation_id']}/messages", headers=user.headers
    ).json()["data"]
    assert messages[-1]["role"] == "assistant" and messages[-1]["content"] == partial


def test_model_mistakes_go_back_as_observations(chat_api: Api, model: ScriptedModelServer) -> None:
    user = chat_api.register()
    model.enqueue(tool_calls=[("no_such_tool", {}), ("add", {"a": "x", "b": 1}), ("boom", {})])
    model.enqueue(text="recovered")
    answer = chat_api.client.post(
        "/chat", json={"message": "try things"}, headers=user.headers
    ).json()
    assert answer["content"] == "recovered"
    observations = [m["content"] for m in model.chat_requests[-1].messages if m["role"] == "tool"]
    assert "unknown tool 'no_such_tool'" in observations[0]
    assert "bad arguments for add" in observations[1]
    assert "crashed" in observations[2]


def test_a_model_that_never_stops_calling_tools_is_stopped(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    for i in range(10):
        model.enqueue(tool_calls=[("add", {"a": i, "b": 1})])
    answer = chat_api.client.post("/chat", json={"message": "loop"}, headers=user.headers)
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "failed"
    assert body["error"]["code"] == "max_iterations"


def test_repeated_identical_calls_are_refused(chat_api: Api, model: ScriptedModelServer) -> None:
    user = chat_api.register()
    for _ in range(3):
        model.enqueue(tool_calls=[("add", {"a": 1, "b": 1})])
    model.enqueue(text="2")
    chat_api.client.post("/chat", json={"message": "again"}, headers=user.headers)
    assert CALLS == ["add", "add"]
    last = [m["content"] for m in model.chat_requests[-1].messages if m["role"] == "tool"][-1]
    assert last.startswith("Refused: you already made this exact call")


def test_text_protocol_for_a_model_without_native_tools(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    model.enqueue(text='Let me add.\n```tool\n{"tool": "add", "params": {"a": 40, "b": 2}}\n```')
    model.enqueue(text="```response\nForty-two\n```")
    answer = chat_api.client.post(
        "/chat", json={"message": "40+2", "model": "plain"}, headers=user.headers
    ).json()
    assert answer["tools_used"] == ["add"] and "Forty-two" in answer["content"]
    assert not model.chat_requests[0].body.get("tools")
    assert "## Tools" in model.chat_requests[0].messages[0]["content"]


def test_reconnect_resumes_after_last_seq_without_gaps(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    model.enqueue(text=" ".join(f"w{i}" for i in range(60)), token_delay=0.01)
    with open_socket(chat_api.base_url, "/chat/ws", user.token) as ws:
        ws.send(json.dumps({"message": "long"}))
        first = [json.loads(ws.recv(timeout=10)) for _ in range(10)]
    run_id, last = first[0]["run_id"], first[-1]["seq"]
    with open_socket(chat_api.base_url, "/chat/ws", user.token) as ws:
        ws.send(json.dumps({"type": "resume", "run_id": run_id, "after": last}))
        rest = receive_until(ws, "complete")
    assert_seq_contiguous(first + rest)
    logged = chat_api.client.get(
        f"/runs/{run_id}/events", params={"after": 0}, headers=user.headers
    ).json()
    assert [e["seq"] for e in logged["data"]] == [e["seq"] for e in first + rest]
    page = chat_api.client.get(
        f"/runs/{run_id}/events", params={"after": last, "limit": 5}, headers=user.headers
    ).json()
    assert [e["seq"] for e in page["data"]] == list(range(last + 1, last + 6))
    with open_socket(chat_api.base_url, f"/runs/{run_id}/ws", user.token, after=last) as ws:
        again = receive_until(ws, "complete")
    assert [e["seq"] for e in again] == [e["seq"] for e in rest]
