"""search_knowledge through whole chat turns: numbered passages for the model, the answer's
[n] become `citations` in `complete`, the HTTP answer and the stored message; a user's
turns never reach another user's passages."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.knowledge.tools import search_knowledge
from orchestrator.tools import Risk, ToolRegistry
from tests.conftest import Account, Api
from tests.knowledge.conftest import ingest, new_collection
from tests.support.scripted_model import ScriptedModelServer

LIGHTS = b"""# Lighthouses

## Bell Rock

The Bell Rock lighthouse off Arbroath is the oldest surviving sea-washed lighthouse;
Robert Stevenson finished it in 1810.

## Eddystone

The current Eddystone tower, designed by James Douglass, was lit in 1882.
"""


def chat(api: Api, user: Account, message: str, **extra: Any) -> Any:
    return api.client.post("/chat", json={"message": message, **extra}, headers=user.headers)


def test_answer_cites_passages_and_complete_carries_citations(
    kb_api: Api, model: ScriptedModelServer
) -> None:
    user = kb_api.register()
    collection = new_collection(kb_api, user, "Coast")
    document = ingest(kb_api, user, collection["id"], "lights.md", LIGHTS)
    model.enqueue(
        tool_calls=[("search_knowledge", {"query": "who finished Bell Rock", "limit": 2})]
    )
    model.enqueue(text="Robert Stevenson finished it in 1810 [1].")
    response = chat(
        kb_api, user, "Who built the Bell Rock lighthouse?", knowledge=[collection["id"]]
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["tools_used"] == ["search_knowledge"]

    system = model.chat_requests[0].messages[0]["content"]
    assert "cite it as [n]" in system and collection["id"] in system
    offered = json.loads(model.chat_requests[1].messages[-1]["content"])
    first = offered["passages"][0]
    assert first["n"] == 1 and first["filename"] == "lights.md" and "Stevenson" in first["text"]
    assert "[n]" in offered["instruction"]

    [citation] = answer["citations"]
    assert citation["n"] == 1 and citation["document_id"] == document["id"]
    assert citation["filename"] == "lights.md" and citation["chunk_id"] == first["chunk_id"]
    assert "Stevenson" in citation["text"]

    events = kb_api.client.get(f"/runs/{answer['run_id']}/events", headers=user.headers).json()
    complete = events["data"][-1]
    assert complete["type"] == "complete" and complete["data"]["citations"] == answer["citations"]
    messages = kb_api.client.get(
        f"/conversations/{answer['conversation_id']}/messages", headers=user.headers
    ).json()["data"]
    assert messages[-1]["citations"] == answer["citations"]


def test_numbers_go_on_across_calls_and_only_cited_passages_are_citations(
    kb_api: Api, model: ScriptedModelServer
) -> None:
    user = kb_api.register()
    collection = new_collection(kb_api, user)
    ingest(kb_api, user, collection["id"], "lights.md", LIGHTS)
    model.enqueue(tool_calls=[("search_knowledge", {"query": "Bell Rock", "limit": 1})])
    model.enqueue(tool_calls=[("search_knowledge", {"query": "Eddystone Douglass", "limit": 1})])
    model.enqueue(text="Douglass designed the Eddystone tower [2].")
    answer = chat(kb_api, user, "Tell me about the towers").json()
    second = json.loads(model.chat_requests[2].messages[-1]["content"])
    assert second["passages"][0]["n"] == 2
    assert [c["n"] for c in answer["citations"]] == [2]
    assert "Douglass" in answer["citations"][0]["text"]


def test_the_tool_never_reaches_another_users_passages(
    kb_api: Api, model: ScriptedModelServer
) -> None:
    alice, bob = kb_api.register(), kb_api.register()
    hers = new_collection(kb_api, alice, "Alice's")
    ingest(kb_api, alice, hers["id"], "lights.md", LIGHTS)

    model.enqueue(tool_calls=[("search_knowledge", {"query": "Bell Rock Stevenson"})])
    model.enqueue(
        tool_calls=[("search_knowledge", {"query": "Bell Rock", "collection": hers["id"]})]
    )
    model.enqueue(text="I found nothing [1].")
    answer = chat(kb_api, bob, "Who built Bell Rock?").json()
    assert json.loads(model.chat_requests[1].messages[-1]["content"])["passages"] == []
    assert "no knowledge collection" in model.chat_requests[2].messages[-1]["content"]
    assert answer["citations"] == []
    assert "Alice's" not in model.chat_requests[0].messages[0]["content"]

    refused = chat(kb_api, bob, "Search hers", knowledge=[hers["id"]])
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"


def test_an_agent_carries_collections_and_may_search_them(
    kb_api: Api, model: ScriptedModelServer
) -> None:
    admin = kb_api.register()  # the first account is the admin
    collection = new_collection(kb_api, admin, "Handbook")
    ingest(kb_api, admin, collection["id"], "lights.md", LIGHTS)
    spec = {
        "name": "librarian",
        "description": "Answers from the handbook",
        "system_prompt": "You answer from documents.",
        "tools": ["add"],
        "knowledge": [collection["id"]],
    }
    created = kb_api.client.post("/agents", json=spec, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.json()["knowledge"] == [collection["id"]]
    other = kb_api.register()
    theirs = new_collection(kb_api, other)
    bad = kb_api.client.post(
        "/agents",
        json={**spec, "name": "thief", "knowledge": [theirs["id"]]},
        headers=admin.headers,
    )
    assert bad.status_code == 422 and "unknown knowledge" in bad.json()["detail"]

    model.enqueue(tool_calls=[("search_knowledge", {"query": "Eddystone"})])
    model.enqueue(text="It was lit in 1882 [1].")
    answer = chat(kb_api, admin, "When was Eddystone lit?", agent="librarian").json()
    offered = {t["function"]["name"] for t in model.chat_requests[0].body["tools"]}
    assert offered == {"add", "search_knowledge"}
    assert answer["citations"][0]["filename"] == "lights.md"

    # Another user picking the agent does not reach the admin's collection.
    model.enqueue(tool_calls=[("search_knowledge", {"query": "Eddystone"})])
    model.enqueue(text="Nothing.")
    chat(kb_api, other, "When was Eddystone lit?", agent="librarian")
    assert json.loads(model.chat_requests[-1].messages[-1]["content"])["passages"] == []


def test_search_knowledge_registers_through_the_entry_point() -> None:
    registry = ToolRegistry.from_entry_points()
    tool = registry.get("search_knowledge")
    assert tool is search_knowledge and tool.risk is Risk.READ and tool.category == "knowledge"
    assert tool.untrusted  # uploaded documents are untrusted content: they taint the turn
    assert set(tool.parameters["properties"]) == {"query", "collection", "limit"}
