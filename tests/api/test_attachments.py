"""Chat attachments on a real server with the scripted model: the agent is told the paths,
and the image bytes reach the model request (Ollama's `images`, OpenAI's `image_url`)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.llm.gateway import ModelGateway
from orchestrator.llm.openai_compat import OpenAICompatProvider
from tests.conftest import SCRIPTED_MODELS, Account, Api
from tests.support.scripted_model import ScriptedModel, ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools
from tests.support.ws import open_socket, receive_until

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
EYES = ScriptedModel("eyes", capabilities=("completion", "tools", "vision"))


def _upload(api: Api, user: Account) -> None:
    for path, data in (("uploads/pic.png", PNG), ("uploads/notes.txt", b"meeting at 10")):
        answer = api.client.put(f"/workspace/files/{path}", content=data, headers=user.headers)
        assert answer.status_code == 201, answer.text


def _last_user(model: ScriptedModelServer) -> dict:
    return [m for m in model.chat_requests[-1].messages if m["role"] == "user"][-1]


def test_attached_image_reaches_a_vision_model_as_ollama_images(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    model.set_models([*SCRIPTED_MODELS, EYES])
    user = chat_api.register()
    _upload(chat_api, user)
    model.enqueue(text="A single pixel.")
    answer = chat_api.client.post(
        "/chat",
        json={
            "message": "What is in the picture?",
            "model": "eyes",
            "attachments": ["uploads/pic.png", "uploads/notes.txt"],
        },
        headers=user.headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"] == "A single pixel."
    sent = _last_user(model)
    assert sent["images"] == [base64.b64encode(PNG).decode()]
    assert "`uploads/pic.png`, `uploads/notes.txt`" in sent["content"]
    stored = chat_api.client.get(
        f"/conversations/{answer.json()['conversation_id']}/messages", headers=user.headers
    ).json()["data"][0]["content"]
    assert stored.startswith("What is in the picture?") and "uploads/notes.txt" in stored


def test_a_model_without_vision_gets_a_clear_note_instead(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    _upload(chat_api, user)
    model.enqueue(text="I cannot see images.")
    answer = chat_api.client.post(
        "/chat",
        json={"message": "Describe it", "model": "scripted", "attachments": ["uploads/pic.png"]},
        headers=user.headers,
    )
    assert answer.status_code == 200, answer.text
    sent = _last_user(model)
    assert "images" not in sent or not sent["images"]
    assert "uploads/pic.png cannot be shown to you: this model has no vision" in sent["content"]


def test_bad_attachments_are_refused_before_any_model_call(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    alice, bob = chat_api.register(), chat_api.register()
    _upload(chat_api, alice)
    cases = [
        (["uploads/missing.png"], 404),
        (["uploads"], 422),
        (["../1/uploads/pic.png"], 403),
        (["/etc/passwd"], 403),
        (["a\x00b"], 400),
        (["x"] * 11, 422),
    ]
    for attachments, status in cases:
        answer = chat_api.client.post(
            "/chat", json={"message": "hi", "attachments": attachments}, headers=alice.headers
        )
        assert answer.status_code == status, (attachments, answer.text)
    # Bob cannot attach Alice's file: his workspace has none.
    answer = chat_api.client.post(
        "/chat", json={"message": "hi", "attachments": ["uploads/pic.png"]}, headers=bob.headers
    )
    assert answer.status_code == 404
    assert model.chat_requests == []


@pytest.fixture
def openai_api(settings: Settings, model: ScriptedModelServer) -> Iterator[Api]:
    """A server whose only model server speaks OpenAI's protocol (the scripted one)."""
    settings = settings.model_copy(update={"openai_base_url": model.openai_url})
    gateway = ModelGateway(settings, providers=[OpenAICompatProvider(model.openai_url)])
    with serve_in_thread(create_app(settings, models=gateway, tools=sample_tools())) as url:
        api = Api(url)
        yield api
        api.client.close()


def test_attached_image_reaches_an_openai_compatible_model_as_image_url(
    openai_api: Api, model: ScriptedModelServer
) -> None:
    user = openai_api.register()
    _upload(openai_api, user)
    model.enqueue(text="One pixel.")
    answer = openai_api.client.post(
        "/chat",
        json={"message": "Look", "model": "scripted", "attachments": ["uploads/pic.png"]},
        headers=user.headers,
    )
    assert answer.status_code == 200, answer.text
    parts = _last_user(model)["content"]
    assert parts[0]["type"] == "text" and "`uploads/pic.png`" in parts[0]["text"]
    assert parts[1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
    }


def test_socket_chat_takes_attachments_too(chat_api: Api, model: ScriptedModelServer) -> None:
    model.set_models([*SCRIPTED_MODELS, EYES])
    user = chat_api.register()
    _upload(chat_api, user)
    model.enqueue(text="Seen.")
    with open_socket(chat_api.base_url, "/chat/ws", user.token) as ws:
        ws.send(
            json.dumps({"message": "Look", "model": "eyes", "attachments": ["uploads/pic.png"]})
        )
        events = receive_until(ws, "complete")
        ws.send(json.dumps({"message": "And this?", "attachments": ["uploads/nope.png"]}))
        refused = receive_until(ws, "error")[-1]
    assert events[-1]["data"]["content"] == "Seen."
    assert _last_user(model)["images"] == [base64.b64encode(PNG).decode()]
    assert refused["data"]["code"] == "path_not_found"
