"""Model connections as data: admins add, change and remove Ollama and OpenAI-compatible
servers; the gateway serves their models at once (two Ollama servers side by side), keys
stay sealed, bad URLs get clear reasons, and per-model settings reach the model."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Account, Api
from tests.support.api_keys import api_key
from tests.support.bad_servers import html_site, locked_api
from tests.support.scripted_model import Reply, ScriptedModel, ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools


@pytest.fixture
def models_api(settings: Settings, model: ScriptedModelServer) -> Iterator[Api]:
    """A real server whose gateway reads its connections from the database; OLLAMA_URL
    (the seed) is the scripted model."""
    settings = settings.model_copy(update={"ollama_url": model.url})
    with serve_in_thread(create_app(settings, tools=sample_tools())) as url:
        api = Api(url)
        yield api
        api.client.close()


@pytest.fixture
def second_ollama() -> Iterator[ScriptedModelServer]:
    """Another Ollama server, which also serves a model called "scripted"."""
    with ScriptedModelServer(["scripted", "only-here"]) as server:
        yield server


def connections(api: Api, admin: Account) -> list[dict[str, Any]]:
    answer = api.client.get("/models/connections", headers=admin.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def add(api: Api, admin: Account, **body: Any) -> dict[str, Any]:
    answer = api.client.post("/models/connections", json=body, headers=admin.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def system_models(api: Api, user: Account) -> list[dict[str, Any]]:
    answer = api.client.get("/system/models", headers=user.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def test_environment_seeds_the_first_connections_once(
    models_api: Api, model: ScriptedModelServer
) -> None:
    admin = models_api.register()
    seeded = connections(models_api, admin)
    assert [(c["kind"], c["name"], c["base_url"]) for c in seeded] == [
        ("ollama", "ollama", model.url),
        ("embedded", "bundled", ""),
    ]
    assert seeded[0]["health"]["status"] == "ok" and seeded[0]["health"]["models"] == 3
    gone = models_api.client.delete(f"/models/connections/{seeded[0]['id']}", headers=admin.headers)
    assert gone.status_code == 204


def test_seeding_is_idempotent_and_a_removed_seed_stays_removed(
    settings: Settings, model: ScriptedModelServer
) -> None:
    settings = settings.model_copy(update={"ollama_url": model.url})
    with serve_in_thread(create_app(settings)) as url:
        api = Api(url)
        admin = api.register()
        first = connections(api, admin)
        ollama = next(c for c in first if c["kind"] == "ollama")
        assert api.client.delete(f"/models/connections/{ollama['id']}", headers=admin.headers)
    with serve_in_thread(create_app(settings)) as url:  # a restart with the same environment
        api = Api(url)
        admin = api.login(admin.username, admin.password)
        assert [c["kind"] for c in connections(api, admin)] == ["embedded"]


def test_users_cannot_see_or_change_connections(models_api: Api) -> None:
    admin, user = models_api.register(), models_api.register()
    some = connections(models_api, admin)[0]["id"]
    for method, path, body in [
        ("GET", "/models/connections", None),
        ("POST", "/models/connections", {"kind": "ollama", "name": "x", "base_url": "http://h:1"}),
        ("GET", f"/models/connections/{some}", None),
        ("PATCH", f"/models/connections/{some}", {"enabled": False}),
        ("DELETE", f"/models/connections/{some}", None),
        ("POST", f"/models/connections/{some}/check", None),
        ("PUT", "/models/settings", {"connection_id": some, "model": "scripted"}),
        ("POST", "/models/pull", {"connection_id": some, "model": "x"}),
    ]:
        answer = models_api.client.request(method, path, json=body, headers=user.headers)
        assert answer.status_code == 403, (method, path, answer.text)
    assert connections(models_api, admin)[0]["enabled"] is True


def test_unknown_connection_ids_answer_404(models_api: Api) -> None:
    admin = models_api.register()
    for method, path, body in [
        ("GET", "/models/connections/nope", None),
        ("PATCH", "/models/connections/nope", {"enabled": False}),
        ("DELETE", "/models/connections/nope", None),
        ("POST", "/models/connections/nope/check", None),
        ("PUT", "/models/settings", {"connection_id": "nope", "model": "scripted"}),
        ("POST", "/models/pull", {"connection_id": "nope", "model": "scripted"}),
    ]:
        answer = models_api.client.request(method, path, json=body, headers=admin.headers)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "ollama", "name": "a@b", "base_url": "http://h:1"}, "name"),
        ({"kind": "ollama", "name": "ok", "base_url": "ftp://h/"}, "base_url"),
        ({"kind": "ollama", "name": "ok", "base_url": "http://u:p@h:1"}, "base_url"),
        ({"kind": "vllm", "name": "ok", "base_url": "http://h:1"}, "kind"),
        ({"kind": "embedded", "name": "ok", "base_url": "http://h:1"}, "kind"),
        ({"kind": "openai", "name": "ok", "base_url": "http://h:1", "api_key": "a\nb"}, "api_key"),
    ],
)
def test_bad_connection_definitions_answer_422(
    models_api: Api, body: dict[str, Any], field: str
) -> None:
    admin = models_api.register()
    answer = models_api.client.post("/models/connections", json=body, headers=admin.headers)
    assert answer.status_code == 422, answer.text
    assert field in json.dumps(answer.json()["detail"])


def test_a_taken_name_is_a_conflict(models_api: Api, model: ScriptedModelServer) -> None:
    admin = models_api.register()
    answer = models_api.client.post(
        "/models/connections",
        json={"kind": "ollama", "name": "ollama", "base_url": model.url},
        headers=admin.headers,
    )
    assert answer.status_code == 409 and "ollama" in answer.json()["detail"]


def test_api_key_is_write_only_and_sealed_at_rest(models_api: Api, settings: Settings) -> None:
    admin = models_api.register()
    with serve_in_thread(locked_api("s3cret-key-value")) as url:
        made = add(
            models_api,
            admin,
            kind="openai",
            name="locked",
            base_url=url,
            api_key="s3cret-key-value",
        )
        assert made["has_api_key"] is True and "api_key" not in made
        assert made["health"]["status"] == "ok", made["health"]
        listed = next(c for c in connections(models_api, admin) if c["id"] == made["id"])
        assert "s3cret" not in json.dumps(listed)
        with sqlite3.connect(settings.data_dir / "orchestrator.db") as db:
            (stored,) = db.execute(
                "SELECT api_key FROM model_connections WHERE id = ?", (made["id"],)
            ).fetchone()
        assert stored.startswith("v1.") and "s3cret" not in stored
        kept = models_api.client.patch(
            f"/models/connections/{made['id']}", json={"name": "locked2"}, headers=admin.headers
        ).json()
        assert kept["has_api_key"] is True and kept["health"]["status"] == "ok"
        forgotten = models_api.client.patch(
            f"/models/connections/{made['id']}", json={"api_key": None}, headers=admin.headers
        ).json()
        assert forgotten["has_api_key"] is False
        assert forgotten["health"]["status"] == "unauthorized", forgotten["health"]
        assert "API key" in forgotten["health"]["detail"]


def test_bad_urls_get_a_health_status_with_a_reason(models_api: Api) -> None:
    admin = models_api.register()
    with serve_in_thread(html_site()) as html_url, serve_in_thread(locked_api()) as locked_url:
        cases = {
            "refused-ollama": ("ollama", "http://127.0.0.1:9", "unreachable", "cannot reach"),
            "html-ollama": ("ollama", html_url, "not_api", "URL"),
            "html-openai": ("openai", html_url, "not_api", "URL"),
            "locked-ollama": ("ollama", locked_url, "unauthorized", "API key"),
            "locked-openai": ("openai", locked_url + "/v1", "unauthorized", "API key"),
        }
        for name, (kind, url, status, words) in cases.items():
            made = add(models_api, admin, kind=kind, name=name, base_url=url)
            assert made["health"]["status"] == status, (name, made["health"])
            assert words in made["health"]["detail"], (name, made["health"])
        user = models_api.register()
        names = {m["name"] for m in system_models(models_api, user)}
        assert "scripted" in names  # the good connection still serves


def test_two_ollama_servers_serve_side_by_side_and_a_shared_name_is_qualified(
    models_api: Api, model: ScriptedModelServer, second_ollama: ScriptedModelServer
) -> None:
    admin = models_api.register()
    made = add(models_api, admin, kind="ollama", name="gpu-box", base_url=second_ollama.url)
    assert made["health"] == {**made["health"], "status": "ok", "models": 2}
    listed = {(m["id"], m["connection"]) for m in system_models(models_api, admin)}
    assert {
        ("scripted@ollama", "ollama"),
        ("scripted@gpu-box", "gpu-box"),
        ("only-here", "gpu-box"),
        ("plain", "ollama"),
    } <= listed
    entry = next(m for m in system_models(models_api, admin) if m["id"] == "scripted@gpu-box")
    assert entry["connection_id"] == made["id"] and "eval_score" in entry
    assert {"tools", "thinking"} <= set(entry["capabilities"])

    second_ollama.enqueue(text="from the second server")
    answer = models_api.client.post(
        "/chat", json={"message": "hi", "model": "scripted@gpu-box"}, headers=admin.headers
    ).json()
    assert answer["content"] == "from the second server"
    model.enqueue(text="from the first server")
    answer = models_api.client.post(
        "/chat", json={"message": "hi", "model": "scripted"}, headers=admin.headers
    ).json()
    assert answer["content"] == "from the first server"  # the bare name: the first connection


def test_the_model_list_shows_each_models_latest_evaluation_score(
    models_api: Api, settings: Settings
) -> None:
    admin = models_api.register()
    assert {m["eval_score"] for m in system_models(models_api, admin)} == {None}
    with sqlite3.connect(settings.data_dir / "orchestrator.db") as db:
        for model, status, score, finished in [
            ("scripted", "succeeded", 0.4, "2026-11-29 01:00:00"),
            ("scripted", "succeeded", 0.75, "2026-11-29 02:00:00"),
            ("plain", "failed", None, "2026-11-29 02:00:00"),
        ]:
            db.execute(
                "INSERT INTO model_evals (id, model, suite_version, status, retrieval, repair,"
                " tasks, task_success, tokens, seconds, results, created_at, finished_at)"
                " VALUES (?, ?, ?, ?, 1, 1, 30, ?, 0, 1.0, '[]', ?, ?)",
                (f"{model}-{finished}", model, finished[-8:], status, score, finished, finished),
            )
    scores = {m["name"]: m["eval_score"] for m in system_models(models_api, admin)}
    assert scores["scripted"] == 0.75 and scores["plain"] is None


def test_disabling_or_removing_a_connection_takes_its_models_away_at_once(
    models_api: Api, second_ollama: ScriptedModelServer
) -> None:
    admin = models_api.register()
    made = add(models_api, admin, kind="ollama", name="gpu-box", base_url=second_ollama.url)
    assert "only-here" in {m["name"] for m in system_models(models_api, admin)}
    off = models_api.client.patch(
        f"/models/connections/{made['id']}", json={"enabled": False}, headers=admin.headers
    ).json()
    assert off["enabled"] is False and off["health"]["status"] == "disabled"
    assert "only-here" not in {m["name"] for m in system_models(models_api, admin)}
    refused = models_api.client.post(
        "/chat", json={"message": "hi", "model": "only-here"}, headers=admin.headers
    )
    assert refused.status_code == 404 and "only-here" in refused.json()["detail"]
    models_api.client.patch(
        f"/models/connections/{made['id']}", json={"enabled": True}, headers=admin.headers
    )
    assert "only-here" in {m["name"] for m in system_models(models_api, admin)}
    models_api.client.delete(f"/models/connections/{made['id']}", headers=admin.headers)
    assert "only-here" not in {m["name"] for m in system_models(models_api, admin)}


def test_model_settings_override_the_probe_and_reach_the_model(
    models_api: Api, model: ScriptedModelServer
) -> None:
    admin = models_api.register()
    ollama = connections(models_api, admin)[0]["id"]
    stored = models_api.client.put(
        "/models/settings",
        json={
            "connection_id": ollama,
            "model": "scripted",
            "native_tools": "off",
            "context_length": 4096,
            "temperature": 0.2,
            "vision": True,
        },
        headers=admin.headers,
    )
    assert stored.status_code == 200, stored.text
    entry = next(m for m in system_models(models_api, admin) if m["name"] == "scripted")
    assert "tools" not in entry["capabilities"] and "vision" in entry["capabilities"]
    assert entry["context_length"] == 4096
    model.enqueue(text='{"response": "no tools for me"}')
    answer = models_api.client.post(
        "/chat", json={"message": "hi", "model": "scripted"}, headers=admin.headers
    ).json()
    assert answer["content"] == "no tools for me"
    sent = model.chat_requests[-1].body
    assert not sent.get("tools") and "## Tools" in sent["messages"][0]["content"]
    assert sent["options"]["temperature"] == 0.2 and sent["options"]["num_ctx"] == 4096
    listed = models_api.client.get("/models/settings", headers=admin.headers).json()["data"]
    assert [(s["model"], s["native_tools"]) for s in listed] == [("scripted", "off")]

    # "on" overrides a probe that says the model has no tools.
    models_api.client.put(
        "/models/settings",
        json={"connection_id": ollama, "model": "plain", "native_tools": "on"},
        headers=admin.headers,
    )
    model.set_models([*model.models[:1], ScriptedModel("plain", ("completion",))])
    model.enqueue(text='{"response": "fell back"}')  # after the server's 400 "no tools"
    answer = models_api.client.post(
        "/chat", json={"message": "hi", "model": "plain"}, headers=admin.headers
    ).json()
    assert answer["content"] == "fell back"
    native, fallback = model.chat_requests[-2:]
    assert native.body.get("tools") and not fallback.body.get("tools")


def test_bad_model_settings_answer_422(models_api: Api) -> None:
    admin = models_api.register()
    ollama = connections(models_api, admin)[0]["id"]
    for bad in (
        {"native_tools": "maybe"},
        {"temperature": 7},
        {"context_length": 3},
        {"model": ""},
    ):
        body = {"connection_id": ollama, "model": "scripted", **bad}
        answer = models_api.client.put("/models/settings", json=body, headers=admin.headers)
        assert answer.status_code == 422, (bad, answer.text)


def read_pull(api: Api, admin: Account, body: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    with api.client.stream("POST", "/models/pull", json=body, headers=admin.headers) as answer:
        if answer.status_code != 200:
            answer.read()
            return answer.status_code, [answer.json()]
        assert answer.headers["content-type"].startswith("application/x-ndjson")
        return 200, [json.loads(line) for line in answer.iter_lines() if line]


def test_pull_streams_progress_and_the_model_is_listed_after(
    models_api: Api, model: ScriptedModelServer
) -> None:
    admin = models_api.register()
    ollama = connections(models_api, admin)[0]["id"]
    model.allow_pull("qwen3:0.6b")
    assert "qwen3:0.6b" not in {m["name"] for m in system_models(models_api, admin)}
    status, lines = read_pull(models_api, admin, {"connection_id": ollama, "model": "qwen3:0.6b"})
    assert status == 200
    progress = [line["completed"] for line in lines if "completed" in line]
    assert progress == sorted(progress) and progress[-1] == lines[1]["total"] == 4000
    assert lines[0] == {"status": "pulling manifest"} and lines[-1] == {"status": "success"}
    assert "qwen3:0.6b" in {m["name"] for m in system_models(models_api, admin)}


def test_pull_of_a_model_that_does_not_exist_is_a_clear_404(
    models_api: Api, model: ScriptedModelServer
) -> None:
    admin = models_api.register()
    ollama = connections(models_api, admin)[0]["id"]
    status, (body,) = read_pull(models_api, admin, {"connection_id": ollama, "model": "nope:1b"})
    assert status == 404 and body["code"] == "model_not_found"
    assert "nope:1b" in body["detail"] and "does not exist" in body["detail"]


def test_pull_refuses_other_kinds_and_dead_servers_clearly(models_api: Api) -> None:
    admin = models_api.register()
    bundled = next(c for c in connections(models_api, admin) if c["kind"] == "embedded")
    status, (body,) = read_pull(models_api, admin, {"connection_id": bundled["id"], "model": "x"})
    assert status == 422 and "Ollama" in body["detail"]
    dead = add(models_api, admin, kind="ollama", name="dead", base_url="http://127.0.0.1:9")
    status, (body,) = read_pull(models_api, admin, {"connection_id": dead["id"], "model": "x"})
    assert status == 503 and "cannot reach" in body["detail"]


def test_the_bundled_connection_has_no_url_to_change(models_api: Api) -> None:
    admin = models_api.register()
    bundled = next(c for c in connections(models_api, admin) if c["kind"] == "embedded")
    answer = models_api.client.patch(
        f"/models/connections/{bundled['id']}",
        json={"base_url": "http://h:1"},
        headers=admin.headers,
    )
    assert answer.status_code == 409


async def test_a_change_in_one_process_reaches_the_gateway_without_a_restart(
    settings: Settings, model: ScriptedModelServer
) -> None:
    """The store's version makes the gateway rebuild at once (no cache wait)."""
    from orchestrator.db.session import create_engine, create_session_factory
    from orchestrator.llm.connections import ConnectionIn, ConnectionStore
    from orchestrator.llm.gateway import ModelGateway

    settings = settings.model_copy(update={"ollama_url": "http://127.0.0.1:9"})
    engine = create_engine(settings)
    store = ConnectionStore(settings, create_session_factory(engine))
    gateway = ModelGateway(settings, connections=store, cache_seconds=3600)
    try:
        assert "scripted" not in {m.name for m in await gateway.list_models()}
        await store.create(ConnectionIn(kind="ollama", name="later", base_url=model.url))
        found = {m.id: m.connection for m in await gateway.list_models()}
        assert found["scripted"] == "later"
        await asyncio.sleep(0)
    finally:
        await gateway.aclose()
        await engine.dispose()


def test_a_model_that_writes_malformed_tool_calls_forever_fails_the_turn_clearly(
    models_api: Api, model: ScriptedModelServer
) -> None:
    admin = models_api.register()
    add(models_api, admin, kind="openai", name="compat", base_url=model.openai_url)
    model.default = lambda _: Reply(tool_calls=[("calculate", '{"expression": 2+')])
    answer = models_api.client.post(
        "/chat", json={"message": "2+2?", "model": "scripted@compat"}, headers=admin.headers
    )
    body = answer.json()  # the model failed, not the request: a 502 that says why
    assert answer.status_code == 502 and body["code"] == "invalid_tool_calls", body
    assert "3 tool calls in a row that could not be used" in body["detail"]
    assert "calculate" in body["detail"] and body["run_id"]
    assert len(model.chat_requests) == 3  # not every remaining step


def test_malformed_tool_calls_forever_are_a_502_on_the_openai_api(
    models_api: Api, model: ScriptedModelServer
) -> None:
    admin = models_api.register()
    add(models_api, admin, kind="openai", name="compat", base_url=model.openai_url)
    model.default = lambda _: Reply(tool_calls=[("add", "{broken")])
    client = openai.OpenAI(
        base_url=f"{models_api.base_url}/v1",
        api_key=api_key(models_api, admin),
        max_retries=0,
        timeout=60,
    )
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="scripted@compat", messages=[{"role": "user", "content": "1+1"}]
        )
    assert caught.value.status_code == 502
    error = caught.value.response.json()["error"]
    assert error["code"] == "invalid_tool_calls" and "could not be used" in error["message"]
