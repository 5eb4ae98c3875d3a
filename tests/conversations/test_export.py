"""Export (JSON complete, Markdown readable) and import: a round trip keeps the tree;
an import is validated whole, hostile files are refused with a reason, and nothing in
a file is trusted as an id."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Account, Api
from tests.conversations.helpers import branch, say
from tests.support.scripted_model import ScriptedModelServer

NOW = "2026-11-20T10:00:00Z"


def export(api: Api, user: Account, cid: str, fmt: str = "json") -> Any:
    response = api.client.get(
        f"/conversations/{cid}/export", params={"format": fmt}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    return response.json() if fmt == "json" else response.text


def shape(file: dict[str, Any]) -> dict[str, Any]:
    """The tree without its ids: each message by position, its parent by position (and
    without who answered: runs are not imported, so an import knows no agent)."""
    position = {m["id"]: i for i, m in enumerate(file["messages"])}
    return {
        "title": file["title"],
        "active": position.get(file["active_message_id"]),
        "messages": [
            {
                **{k: v for k, v in m.items() if k not in {"id", "parent_id", "agent", "model"}},
                "parent": position.get(m["parent_id"]),
            }
            for m in file["messages"]
        ],
    }


def import_file(api: Api, user: Account, body: bytes | dict[str, Any]) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.client.post(
        "/conversations/import",
        content=content,
        headers={**user.headers, "Content-Type": "application/json"},
    )


@pytest.fixture
def tree(chat_api: Api, model: ScriptedModelServer) -> tuple[Account, str]:
    """A conversation with a tool call and two branches."""
    user = chat_api.register()
    model.enqueue(tool_calls=[("add", {"a": 2, "b": 3})])
    cid = say(chat_api, user, model, "Add 2 and 3", "It is 5")["conversation_id"]
    answer = branch(chat_api, user, cid)[1]["id"]
    say(chat_api, user, model, "Thanks", "You're welcome", conversation_id=cid)
    say(
        chat_api,
        user,
        model,
        "Now in French",
        "Cinq",
        conversation_id=cid,
        parent_message_id=answer,
    )
    return user, cid


def test_json_export_is_complete_and_a_round_trip_gives_the_same_tree(
    chat_api: Api, tree: tuple[Account, str]
) -> None:
    user, cid = tree
    file = export(chat_api, user, cid)
    assert file["format"] == "orchestrator.conversation" and file["version"] == 1
    assert [m["content"] for m in file["messages"]] == [
        "Add 2 and 3",
        "It is 5",
        "Thanks",
        "You're welcome",
        "Now in French",
        "Cinq",
    ]
    tools = file["messages"][1]["tools_used"]
    assert [(t["name"], t["params"], t["result"], t["status"]) for t in tools] == [
        ("add", {"a": 2, "b": 3}, "5", "finished")
    ]
    assert file["messages"][1]["agent"] == "assistant" and file["messages"][0]["agent"] is None
    assert file["messages"][4]["parent_id"] == file["messages"][1]["id"]
    assert file["active_message_id"] == file["messages"][5]["id"]

    imported = import_file(chat_api, user, file)
    assert imported.status_code == 201, imported.text
    new_id = imported.json()["id"]
    assert new_id != cid
    again = export(chat_api, user, new_id)
    assert shape(again) == shape(file)
    assert {m["id"] for m in again["messages"]}.isdisjoint(m["id"] for m in file["messages"])
    assert [m["content"] for m in branch(chat_api, user, new_id)] == [
        "Add 2 and 3",
        "It is 5",
        "Now in French",
        "Cinq",
    ]


def test_citations_survive_a_round_trip(chat_api: Api) -> None:
    user = chat_api.register()
    citation = {
        "n": 1,
        "document_id": "d1",
        "filename": "guide.pdf",
        "chunk_id": "d1:0",
        "page": 3,
        "text": "The guide says so.",
    }
    body = {
        "title": "Cited",
        "created_at": NOW,
        "messages": [
            {"id": 10, "role": "user", "content": "What does the guide say?", "created_at": NOW},
            {
                "id": 20,
                "parent_id": 10,
                "role": "assistant",
                "content": "It says so [1].",
                "citations": [citation],
                "created_at": NOW,
            },
        ],
    }
    cid = import_file(chat_api, user, body).json()["id"]
    cited = export(chat_api, user, cid)["messages"][1]["citations"]
    assert [{k: c[k] for k in citation} for c in cited] == [citation]
    markdown = export(chat_api, user, cid, "markdown")
    assert "Sources:" in markdown and "1. guide.pdf, page 3" in markdown


def test_markdown_shows_the_active_branch_with_tool_calls_folded(
    chat_api: Api, tree: tuple[Account, str]
) -> None:
    user, cid = tree
    markdown = export(chat_api, user, cid, "markdown")
    assert markdown.startswith("# Add 2 and 3\n")
    assert "## You\n\nNow in French" in markdown and "Cinq" in markdown
    assert "Thanks" not in markdown and "You're welcome" not in markdown  # the other branch
    assert "<details>\n<summary>Tool call: add (finished)</summary>" in markdown
    assert '"a": 2' in markdown and "Result:\n\n```\n5\n```\n\n</details>" in markdown
    assert markdown.index("<details>") < markdown.index("It is 5")


def test_export_and_import_of_another_users_ids(chat_api: Api, tree: tuple[Account, str]) -> None:
    alice, cid = tree
    bob = chat_api.register()
    assert (
        chat_api.client.get(f"/conversations/{cid}/export", headers=bob.headers).status_code == 404
    )
    file = export(chat_api, alice, cid)
    alice_ids = {m["id"] for m in file["messages"]}
    # Bob imports a file naming Alice's message ids: he gets his own copy with new ids.
    imported = import_file(chat_api, bob, file)
    assert imported.status_code == 201
    copy = imported.json()["id"]
    bob_file = export(chat_api, bob, copy)
    assert {m["id"] for m in bob_file["messages"]}.isdisjoint(alice_ids)
    assert chat_api.client.get(f"/conversations/{copy}", headers=alice.headers).status_code == 404
    assert len(export(chat_api, alice, cid)["messages"]) == 6  # Alice's tree is untouched
    # Fields that would carry ownership are refused, not ignored.
    for extra in ({"user_id": alice.id}, {"id": cid}):
        assert import_file(chat_api, bob, {**file, **extra}).status_code == 422
    with_run = json.loads(json.dumps(file))
    with_run["messages"][0]["run_id"] = "someone-elses-run"
    refused = import_file(chat_api, bob, with_run)
    assert refused.status_code == 422 and "run_id" in refused.json()["detail"]


def _chain(n: int) -> list[dict[str, Any]]:
    return [
        {"id": i + 1, "parent_id": i or None, "role": "user", "content": "x", "created_at": NOW}
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"not json at all", 422, "not a conversation export"),
        (b"[]", 422, "not a conversation export"),
        (b"[" * 100_000 + b"]" * 100_000, 422, "not a conversation export"),
        ({"title": "x", "created_at": NOW, "messages": _chain(5001)}, 422, "messages"),
        (
            {"title": "x", "created_at": NOW, "messages": [*_chain(2), {**_chain(2)[1]}]},
            422,
            "appears twice",
        ),
        (
            {
                "title": "x",
                "created_at": NOW,
                "messages": [{**_chain(1)[0], "parent_id": 2}, *_chain(2)[1:]],
            },
            422,
            "not an earlier message",
        ),
        (
            {"title": "x", "created_at": NOW, "messages": _chain(2), "active_message_id": 9},
            422,
            "active_message_id",
        ),
        ({"title": "", "created_at": NOW, "messages": []}, 422, "title"),
        ({"title": "x", "created_at": NOW, "messages": [], "format": "other"}, 422, "format"),
    ],
)
def test_hostile_or_broken_files_are_refused_with_a_reason(
    api: Api, body: bytes | dict[str, Any], status: int, reason: str
) -> None:
    user = api.register()
    response = import_file(api, user, body)
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"]
    assert api.client.get("/conversations", headers=user.headers).json()["count"] == 0


def test_deeply_nested_tool_parameters_are_refused(api: Api) -> None:
    user = api.register()
    params: dict[str, Any] = {}
    inner = params
    for _ in range(40):
        inner["x"] = {}
        inner = inner["x"]
    message = {
        **_chain(1)[0],
        "role": "assistant",
        "tools_used": [{"name": "add", "params": params}],
    }
    response = import_file(api, user, {"title": "x", "created_at": NOW, "messages": [message]})
    assert response.status_code == 422 and "nested deeper" in response.json()["detail"]


def test_a_huge_file_is_refused_before_it_is_read_whole(api: Api) -> None:
    user = api.register()
    huge = b'{"title": "x", "messages": [' + b" " * (11 * 1024 * 1024) + b"]}"
    response = import_file(api, user, huge)
    assert response.status_code == 413 and "10 MB" in response.json()["detail"]
