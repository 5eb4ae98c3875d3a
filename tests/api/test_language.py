"""The user's language: a setting on the account, and the agents told to answer in the
language the user writes in, with the setting as the default."""

from __future__ import annotations

from tests.conftest import Api
from tests.support.scripted_model import ScriptedModelServer

FOLLOW = "Answer in the language the user writes in"


def _system_prompt(model: ScriptedModelServer) -> str:
    messages = model.chat_requests[-1].messages
    assert messages[0]["role"] == "system"
    return str(messages[0]["content"])


def test_the_prompt_tells_the_agent_to_answer_in_the_users_language(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    user = chat_api.register()
    http = chat_api.client
    assert http.get("/auth/me", headers=user.headers).json()["language"] is None

    model.enqueue(text="Bonjour !")
    http.post("/chat", json={"message": "Bonjour, qui es-tu ?"}, headers=user.headers)
    prompt = _system_prompt(model)
    assert FOLLOW in prompt and "the language the user chose" not in prompt  # no setting

    chosen = http.patch("/auth/me", json={"language": "fr"}, headers=user.headers)
    assert chosen.status_code == 200 and chosen.json()["language"] == "fr"
    model.enqueue(text="D'accord.")
    http.post("/chat", json={"message": "ok"}, headers=user.headers)
    prompt = _system_prompt(model)
    assert FOLLOW in prompt and "answer in French, the language the user chose" in prompt

    http.patch("/auth/me", json={"language": "en"}, headers=user.headers)
    model.enqueue(text="Fine.")
    http.post("/chat", json={"message": "ok"}, headers=user.headers)
    assert "answer in English, the language the user chose" in _system_prompt(model)

    cleared = http.patch("/auth/me", json={"language": None}, headers=user.headers)
    assert cleared.json()["language"] is None


def test_the_setting_is_each_users_own(chat_api: Api, model: ScriptedModelServer) -> None:
    alice = chat_api.register()
    bob = chat_api.register()
    chat_api.client.patch("/auth/me", json={"language": "fr"}, headers=alice.headers)
    assert chat_api.client.get("/auth/me", headers=bob.headers).json()["language"] is None
    model.enqueue(text="Hi.")
    chat_api.client.post("/chat", json={"message": "hi"}, headers=bob.headers)
    assert "the language the user chose" not in _system_prompt(model)


def test_a_language_the_app_does_not_speak_is_refused(chat_api: Api) -> None:
    user = chat_api.register()
    for body in ({"language": "de"}, {"language": "fr", "role": "admin"}, {}):
        refused = chat_api.client.patch("/auth/me", json=body, headers=user.headers)
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_input", body
    assert chat_api.client.patch("/auth/me", json={"language": "fr"}).status_code == 401
