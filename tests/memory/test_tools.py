"""remember / recall / forget through whole chat turns: the scripted model calls the tools,
the real server runs them on real embeddings."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.memory.tools import register as register_memory_tools
from orchestrator.tools import Risk, ToolRegistry
from tests.conftest import Account, Api, scripted_gateway
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools


@pytest.fixture
def memory_chat_api(settings: Settings, model: ScriptedModelServer) -> Iterator[Api]:
    """A real server whose agents use the scripted model, the test tools and memory."""
    settings = settings.model_copy(update={"ollama_url": model.url})
    tools = sample_tools()
    register_memory_tools(tools)
    with serve_in_thread(
        create_app(settings, models=scripted_gateway(settings, model), tools=tools)
    ) as url:
        api = Api(url)
        yield api
        api.client.close()


def chat(api: Api, user: Account, message: str) -> dict[str, object]:
    answer = api.client.post("/chat", json={"message": message}, headers=user.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_agent_remembers_then_recalls_in_a_later_conversation(
    memory_chat_api: Api, model: ScriptedModelServer
) -> None:
    user = memory_chat_api.register()
    model.enqueue(
        tool_calls=[("remember", {"content": "The user's cat is called Miso", "tags": ["pets"]})]
    )
    model.enqueue(text="I'll remember that.")
    first = chat(memory_chat_api, user, "My cat is called Miso, please remember it")
    assert first["tools_used"] == ["remember"]
    kept = memory_chat_api.client.get("/memory", headers=user.headers).json()["data"]
    assert [(m["content"], m["tags"]) for m in kept] == [
        ("The user's cat is called Miso", ["pets"])
    ]
    assert kept[0]["source"] == f"conversation:{first['conversation_id']}"

    model.enqueue(tool_calls=[("recall", {"query": "name of my pet", "limit": 3})])
    model.enqueue(text="Your cat is Miso.")
    second = chat(memory_chat_api, user, "What is my cat's name?")  # a new conversation
    assert second["content"] == "Your cat is Miso." and second["tools_used"] == ["recall"]
    system = model.chat_requests[-2].messages[0]
    assert system["role"] == "system" and "The user's cat is called Miso" in system["content"]
    recalled = json.loads(model.chat_requests[-1].messages[-1]["content"])
    assert recalled[0]["content"] == "The user's cat is called Miso"
    assert recalled[0]["id"] == kept[0]["id"] and recalled[0]["tags"] == ["pets"]


def test_agent_tools_reach_only_the_callers_memories(
    memory_chat_api: Api, model: ScriptedModelServer
) -> None:
    alice, bob = memory_chat_api.register(), memory_chat_api.register()
    secret = memory_chat_api.client.post(
        "/memory", json={"content": "Alice's door code is 2468"}, headers=alice.headers
    ).json()

    model.enqueue(tool_calls=[("recall", {"query": "door code"})])
    model.enqueue(tool_calls=[("forget", {"id": secret["id"]})])
    model.enqueue(text="Nothing to find.")
    chat(memory_chat_api, bob, "What is the door code?")
    system = model.chat_requests[0].messages[0]["content"]
    assert "2468" not in system  # nothing of Alice's offered to Bob's turn
    assert json.loads(model.chat_requests[1].messages[-1]["content"]) == []
    refused = model.chat_requests[2].messages[-1]["content"]
    assert "no memory with id" in refused
    assert (
        memory_chat_api.client.get(f"/memory/{secret['id']}", headers=alice.headers).status_code
        == 200
    )


def test_agent_forgets_a_memory_by_its_id(memory_chat_api: Api, model: ScriptedModelServer) -> None:
    user = memory_chat_api.register()
    memory = memory_chat_api.client.post(
        "/memory", json={"content": "I am vegetarian"}, headers=user.headers
    ).json()
    model.enqueue(tool_calls=[("forget", {"id": memory["id"]})])
    model.enqueue(text="Forgotten.")
    answer = chat(memory_chat_api, user, "Forget that I am vegetarian")
    assert answer["tools_used"] == ["forget"]
    assert memory["id"] in model.chat_requests[0].messages[0]["content"]  # offered with its id
    assert memory_chat_api.client.get("/memory", headers=user.headers).json()["count"] == 0


def test_memory_tools_register_through_the_entry_point_with_bounded_strings() -> None:
    registry = ToolRegistry.from_entry_points()
    expected = {
        "remember": (Risk.WRITE, {"content", "tags"}),
        "recall": (Risk.READ, {"query", "limit"}),
        "forget": (Risk.WRITE, {"id"}),
    }
    for name, (risk, params) in expected.items():
        tool = registry.get(name)
        assert tool.risk is risk and tool.category == "memory"
        assert set(tool.parameters["properties"]) == params
        for prop in tool.parameters["properties"].values():
            assert prop.get("description"), name
            strings = [prop, *prop.get("anyOf", []), prop.get("items", {})]
            strings += [s.get("items", {}) for s in prop.get("anyOf", [])]
            assert all("maxLength" in s for s in strings if s.get("type") == "string"), name


def test_memory_recall_off_offers_no_memories_at_the_start_of_a_turn(
    settings: Settings, model: ScriptedModelServer
) -> None:
    settings = settings.model_copy(update={"ollama_url": model.url, "memory_recall": False})
    app = create_app(settings, models=scripted_gateway(settings, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        user = api.register()
        api.client.post("/memory", json={"content": "I love sailing"}, headers=user.headers)
        model.enqueue(text="Ahoy.")
        chat(api, user, "What do I love?")
        api.client.close()
    assert "sailing" not in model.chat_requests[0].messages[0]["content"]
