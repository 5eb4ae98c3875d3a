"""Ratings of answers: one per user and answer, on their own answers only; admins see
totals per agent and per model and export the rated exchanges as JSONL."""

from __future__ import annotations

import json

from tests.conftest import Api
from tests.conversations.helpers import branch, say
from tests.support.scripted_model import ScriptedModelServer


def test_rating_an_answer_is_kept_replaced_and_shown(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    chat_api.register()  # the admin
    alice, bob = chat_api.register(), chat_api.register()
    cid = say(chat_api, alice, model, "Capital of France?", "Paris")["conversation_id"]
    question, answer = branch(chat_api, alice, cid)
    c = chat_api.client
    rated = c.post(
        f"/messages/{answer['id']}/feedback",
        json={"rating": -1, "comment": "  too short  "},
        headers=alice.headers,
    )
    assert rated.status_code == 200 and rated.json() == {"rating": -1, "comment": "too short"}
    again = c.post(f"/messages/{answer['id']}/feedback", json={"rating": 1}, headers=alice.headers)
    assert again.json() == {"rating": 1, "comment": None}
    shown = branch(chat_api, alice, cid)
    assert shown[1]["feedback"] == {"rating": 1, "comment": None} and shown[0]["feedback"] is None

    # Not an answer, not a rating, not hers: refused; Bob's attempt changes nothing.
    assert (
        c.post(
            f"/messages/{question['id']}/feedback", json={"rating": 1}, headers=alice.headers
        ).status_code
        == 422
    )
    for bad in ({"rating": 0}, {"rating": 5}, {"rating": 1, "comment": "x" * 2001}, {}):
        assert (
            c.post(
                f"/messages/{answer['id']}/feedback", json=bad, headers=alice.headers
            ).status_code
            == 422
        )
    assert (
        c.post(
            f"/messages/{answer['id']}/feedback", json={"rating": -1}, headers=bob.headers
        ).status_code
        == 404
    )
    assert c.delete(f"/messages/{answer['id']}/feedback", headers=bob.headers).status_code == 404
    assert (
        c.post("/messages/999999/feedback", json={"rating": 1}, headers=alice.headers).status_code
        == 404
    )
    assert branch(chat_api, alice, cid)[1]["feedback"]["rating"] == 1

    assert c.delete(f"/messages/{answer['id']}/feedback", headers=alice.headers).status_code == 204
    assert branch(chat_api, alice, cid)[1]["feedback"] is None


def test_admin_sees_totals_per_agent_and_model_and_exports_jsonl(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    admin, alice = chat_api.register(), chat_api.register()
    first = say(chat_api, alice, model, "Say hi", "Hi!", model="scripted")
    second = say(chat_api, alice, model, "Say bye", "Bye!", model="plain")
    third = say(chat_api, admin, model, "Joke?", "No.", model="scripted")
    c = chat_api.client
    for message, user, rating, comment in (
        (first["message_id"], alice, 1, "friendly"),
        (second["message_id"], alice, -1, None),
        (third["message_id"], admin, -1, "not funny"),
    ):
        response = c.post(
            f"/messages/{message}/feedback",
            json={"rating": rating, "comment": comment},
            headers=user.headers,
        )
        assert response.status_code == 200, response.text

    assert c.get("/feedback/stats", headers=alice.headers).status_code == 403
    assert c.get("/feedback/export", headers=alice.headers).status_code == 403
    stats = c.get("/feedback/stats", headers=admin.headers).json()
    assert stats["by_agent"] == [{"name": "assistant", "up": 1, "down": 2}]
    assert sorted(stats["by_model"], key=lambda t: t["name"]) == [
        {"name": "plain", "up": 0, "down": 1},
        {"name": "scripted", "up": 1, "down": 1},
    ]

    exported = c.get("/feedback/export", headers=admin.headers)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert [(r["prompt"], r["answer"], r["rating"], r["comment"]) for r in lines] == [
        ("Say hi", "Hi!", 1, "friendly"),
        ("Say bye", "Bye!", -1, None),
        ("Joke?", "No.", -1, "not funny"),
    ]
    assert lines[0]["model"] == "scripted" and lines[0]["agent"] == "assistant"
