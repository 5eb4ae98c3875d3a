"""Message trees over a real server and the scripted model: parents from HTTP and the
socket, sibling branches, the active branch, and what the model is sent."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from uuid import uuid4

from orchestrator.core.config import Settings
from tests.conftest import Api
from tests.conversations.helpers import branch, count, say, sent_history
from tests.support.scripted_model import ScriptedModelServer
from tests.support.ws import open_socket, receive_until


def test_edit_starts_a_sibling_branch_and_the_model_sees_only_it(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    first = say(chat_api, user, model, "Name a fruit", "Apple")
    cid = first["conversation_id"]
    second = say(chat_api, user, model, "And a colour?", "Red", conversation_id=cid)
    old = branch(chat_api, user, cid)
    assert [(m["role"], m["content"]) for m in old] == [
        ("user", "Name a fruit"),
        ("assistant", "Apple"),
        ("user", "And a colour?"),
        ("assistant", "Red"),
    ]
    assert [m["parent_id"] for m in old] == [None, old[0]["id"], old[1]["id"], old[2]["id"]]
    assert old[3]["id"] == second["message_id"]

    edited = say(
        chat_api,
        user,
        model,
        "And a vegetable?",
        "Leek",
        conversation_id=cid,
        parent_message_id=old[1]["id"],
    )
    assert sent_history(model) == [
        ("user", "Name a fruit"),
        ("assistant", "Apple"),
        ("user", "And a vegetable?"),
    ]
    new = branch(chat_api, user, cid)
    assert [m["content"] for m in new] == ["Name a fruit", "Apple", "And a vegetable?", "Leek"]
    assert new[2]["sibling_ids"] == [old[2]["id"]] and new[2]["parent_id"] == old[1]["id"]
    assert new[3]["id"] == edited["message_id"] and new[3]["sibling_ids"] == []

    # Back to the first version; a message without a parent continues that branch.
    switched = chat_api.client.put(
        f"/conversations/{cid}/active", json={"message_id": old[2]["id"]}, headers=user.headers
    )
    assert switched.status_code == 200, switched.text
    assert [m["content"] for m in switched.json()["data"]][2:] == ["And a colour?", "Red"]
    assert switched.json()["data"][2]["sibling_ids"] == [new[2]["id"]]
    say(chat_api, user, model, "And a shape?", "Round", conversation_id=cid)
    assert sent_history(model) == [
        ("user", "Name a fruit"),
        ("assistant", "Apple"),
        ("user", "And a colour?"),
        ("assistant", "Red"),
        ("user", "And a shape?"),
    ]
    assert [m["content"] for m in branch(chat_api, user, cid)][-2:] == ["And a shape?", "Round"]


def test_switching_to_a_middle_message_follows_its_newest_branch(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    cid = say(chat_api, user, model, "one", "1")["conversation_id"]
    say(chat_api, user, model, "two", "2", conversation_id=cid)
    first_answer = branch(chat_api, user, cid)[1]["id"]
    say(chat_api, user, model, "zwei", "II", conversation_id=cid, parent_message_id=first_answer)
    answer = chat_api.client.put(
        f"/conversations/{cid}/active", json={"message_id": first_answer}, headers=user.headers
    ).json()["data"]
    assert [m["content"] for m in answer] == ["one", "1", "zwei", "II"]


def test_regenerate_resends_the_same_text_below_the_same_parent(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    cid = say(chat_api, user, model, "Tell a joke", "Why did...")["conversation_id"]
    question = branch(chat_api, user, cid)[0]
    # The question is a first message: its parent is an explicit null.
    say(
        chat_api,
        user,
        model,
        "Tell a joke",
        "Knock knock",
        conversation_id=cid,
        parent_message_id=None,
    )
    assert sent_history(model) == [("user", "Tell a joke")]
    now = branch(chat_api, user, cid)
    assert [m["content"] for m in now] == ["Tell a joke", "Knock knock"]
    assert now[0]["parent_id"] is None and now[0]["sibling_ids"] == [question["id"]]


def test_websocket_takes_a_parent_message(chat_api: Api, model: ScriptedModelServer) -> None:
    user = chat_api.register()
    cid = say(chat_api, user, model, "alpha", "A")["conversation_id"]
    say(chat_api, user, model, "beta", "B", conversation_id=cid)
    alpha_answer = branch(chat_api, user, cid)[1]["id"]
    model.enqueue(text="G")
    with open_socket(chat_api.base_url, "/chat/ws", user.token) as ws:
        ws.send(
            json.dumps(
                {"message": "gamma", "conversation_id": cid, "parent_message_id": alpha_answer}
            )
        )
        events = receive_until(ws, "complete")
    assert events[-1]["data"]["status"] == "succeeded"
    assert sent_history(model) == [("user", "alpha"), ("assistant", "A"), ("user", "gamma")]
    assert [m["content"] for m in branch(chat_api, user, cid)] == ["alpha", "A", "gamma", "G"]


def test_parents_and_branches_of_another_user_answer_404(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    alice, bob = chat_api.register(), chat_api.register()
    cid = say(chat_api, alice, model, "secret plan", "ok")["conversation_id"]
    alice_msg = branch(chat_api, alice, cid)[1]["id"]
    bob_cid = say(chat_api, bob, model, "hello", "hi")["conversation_id"]
    bob_msg = branch(chat_api, bob, bob_cid)[1]["id"]
    c = chat_api.client
    # Bob's message below Alice's message, in his conversation or hers: not found.
    for target in (bob_cid, cid):
        refused = c.post(
            "/chat",
            json={"message": "x", "conversation_id": target, "parent_message_id": alice_msg},
            headers=bob.headers,
        )
        assert refused.status_code == 404, refused.text
    assert (
        c.put(
            f"/conversations/{cid}/active", json={"message_id": alice_msg}, headers=bob.headers
        ).status_code
        == 404
    )
    assert (
        c.put(
            f"/conversations/{bob_cid}/active", json={"message_id": alice_msg}, headers=bob.headers
        ).status_code
        == 404
    )
    assert (
        c.delete(f"/conversations/{cid}/messages/{alice_msg}", headers=bob.headers).status_code
        == 404
    )
    assert (
        c.delete(f"/conversations/{bob_cid}/messages/{alice_msg}", headers=bob.headers).status_code
        == 404
    )
    assert c.get(f"/conversations/{cid}/messages", headers=bob.headers).status_code == 404
    # A parent without its conversation is refused with a reason, never guessed.
    alone = c.post(
        "/chat", json={"message": "x", "parent_message_id": bob_msg}, headers=bob.headers
    )
    assert alone.status_code == 422 and "conversation_id" in alone.json()["detail"]
    bad = c.put(f"/conversations/{bob_cid}/active", json={"message_id": 2**40}, headers=bob.headers)
    assert bad.status_code == 422
    assert [m["content"] for m in branch(chat_api, alice, cid)] == ["secret plan", "ok"]


def _rows_of_runs(settings: Settings, run_ids: list[str]) -> dict[str, int]:
    marks = ",".join("?" * len(run_ids))
    return {
        table: count(settings, f"SELECT count(*) FROM {table} WHERE run_id IN ({marks})", *run_ids)
        for table in ("run_events", "tool_calls", "workspace_changes")
    } | {"runs": count(settings, f"SELECT count(*) FROM runs WHERE id IN ({marks})", *run_ids)}


def _record_change(settings: Settings, run_id: str, user_id: int) -> None:
    """A workspace change record of the run (as the change recorder writes it)."""
    with sqlite3.connect(Path(settings.data_dir) / "orchestrator.db") as db:
        db.execute(
            "INSERT INTO workspace_changes (id, run_id, user_id, path, tool, created_at, "
            "updated_at) VALUES (?, ?, ?, 'notes.txt', 'write_file', datetime(), datetime())",
            (str(uuid4()), run_id, user_id),
        )


def test_deleting_a_branch_deletes_its_runs_records_and_nothing_else(
    chat_api: Api, model: ScriptedModelServer, settings: Settings
) -> None:
    alice, bob = chat_api.register(), chat_api.register()
    first = say(chat_api, alice, model, "start", "started")
    cid = first["conversation_id"]
    model.enqueue(tool_calls=[("add", {"a": 1, "b": 2})])
    kept = say(chat_api, alice, model, "add them", "3", conversation_id=cid)
    start_answer = branch(chat_api, alice, cid)[1]["id"]
    model.enqueue(tool_calls=[("add", {"a": 5, "b": 5})])
    gone = say(
        chat_api,
        alice,
        model,
        "add those",
        "10",
        conversation_id=cid,
        parent_message_id=start_answer,
    )
    _record_change(settings, gone["run_id"], alice.id)
    _record_change(settings, kept["run_id"], alice.id)
    doomed = branch(chat_api, alice, cid)[2]
    assert doomed["content"] == "add those"
    before = _rows_of_runs(settings, [gone["run_id"]])
    assert all(n > 0 for n in before.values()), before

    # Bob cannot, and his attempt changes nothing.
    assert (
        chat_api.client.delete(
            f"/conversations/{cid}/messages/{doomed['id']}", headers=bob.headers
        ).status_code
        == 404
    )
    assert _rows_of_runs(settings, [gone["run_id"]]) == before

    deleted = chat_api.client.delete(
        f"/conversations/{cid}/messages/{doomed['id']}", headers=alice.headers
    )
    assert deleted.status_code == 204, deleted.text
    assert _rows_of_runs(settings, [gone["run_id"]]) == {
        "run_events": 0,
        "tool_calls": 0,
        "workspace_changes": 0,
        "runs": 0,
    }
    assert all(n > 0 for n in _rows_of_runs(settings, [kept["run_id"]]).values())
    # The active branch moved to the sibling that is left.
    now = branch(chat_api, alice, cid)
    assert [m["content"] for m in now] == ["start", "started", "add them", "3"]
    assert now[2]["sibling_ids"] == []
    assert count(settings, "SELECT count(*) FROM messages WHERE conversation_id = ?", cid) == 4


def test_deleting_a_conversation_leaves_nothing_orphaned(
    chat_api: Api, model: ScriptedModelServer, settings: Settings
) -> None:
    alice, bob = chat_api.register(), chat_api.register()
    model.enqueue(tool_calls=[("add", {"a": 1, "b": 1})])
    first = say(chat_api, alice, model, "one plus one", "2")
    cid = first["conversation_id"]
    second = say(chat_api, alice, model, "again", "two", conversation_id=cid)
    _record_change(settings, first["run_id"], alice.id)
    bobs = say(chat_api, bob, model, "mine", "yours")
    runs = [first["run_id"], second["run_id"]]
    assert chat_api.client.delete(f"/conversations/{cid}", headers=bob.headers).status_code == 404
    assert _rows_of_runs(settings, runs)["runs"] == 2
    assert chat_api.client.delete(f"/conversations/{cid}", headers=alice.headers).status_code == 204
    assert _rows_of_runs(settings, runs) == {
        "run_events": 0,
        "tool_calls": 0,
        "workspace_changes": 0,
        "runs": 0,
    }
    assert count(settings, "SELECT count(*) FROM messages WHERE conversation_id = ?", cid) == 0
    assert (
        count(settings, "SELECT count(*) FROM conversation_fts WHERE conversation_id = ?", cid) == 0
    )
    # Bob's conversation is untouched.
    assert [m["content"] for m in branch(chat_api, bob, bobs["conversation_id"])] == [
        "mine",
        "yours",
    ]
    assert _rows_of_runs(settings, [bobs["run_id"]])["run_events"] > 0
