"""Quotas per user (set by admins) over the role's settings: checked before a run starts
and after each model call; over one, 429 `quota_exceeded` with `reset_at` on REST, the
WebSocket and `/v1` alike."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import openai
import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Account, Api, scripted_gateway
from tests.support.api_keys import api_key
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools
from tests.support.ws import open_socket


def _midnight() -> str:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today + timedelta(days=1)).isoformat()


def _put(api: Api, admin: Account, user_id: int, body: dict) -> dict:
    response = api.client.put(f"/users/{user_id}/quota", json=body, headers=admin.headers)
    assert response.status_code == 200, response.text
    result: dict = response.json()
    return result


def test_admin_reads_and_sets_a_users_quota_over_the_roles(usage_api: Api) -> None:
    admin, user = usage_api.register(), usage_api.register()
    before = usage_api.client.get(f"/users/{user.id}/quota", headers=admin.headers).json()
    assert before["tokens_per_day"] is None
    assert before["effective"]["concurrent_runs"] == 20  # QUOTA_CONCURRENT_RUNS
    after = _put(usage_api, admin, user.id, {"tokens_per_day": 1000, "concurrent_runs": 2})
    assert after["effective"] == {
        "tokens_per_day": 1000,
        "runs_per_day": None,
        "concurrent_runs": 2,
    }
    again = usage_api.client.get(f"/users/{user.id}/quota", headers=admin.headers).json()
    assert again == after
    reset = _put(usage_api, admin, user.id, {})
    assert reset["effective"]["concurrent_runs"] == 20 and reset["tokens_per_day"] is None
    own = usage_api.client.get("/usage/quota", headers=user.headers).json()
    assert own["limits"]["concurrent_runs"] == 20 and own["tokens_today"] == 0
    assert own["reset_at"].startswith(_midnight()[:10])


@pytest.mark.parametrize(
    "body",
    [
        {"tokens_per_day": -1},
        {"runs_per_day": -5},
        {"concurrent_runs": -1},
        {"tokens_per_day": "lots"},
        {"hours_per_day": 3},
    ],
)
def test_negative_or_unknown_quotas_are_422(usage_api: Api, body: dict) -> None:
    admin, user = usage_api.register(), usage_api.register()
    response = usage_api.client.put(f"/users/{user.id}/quota", json=body, headers=admin.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"


def test_quota_routes_are_for_admins_and_unknown_users_are_404(usage_api: Api) -> None:
    admin, user, other = usage_api.register(), usage_api.register(), usage_api.register()
    for method in ("get", "put"):
        kwargs = {"json": {"runs_per_day": 1}} if method == "put" else {}
        refused = getattr(usage_api.client, method)(
            f"/users/{other.id}/quota", headers=user.headers, **kwargs
        )
        assert refused.status_code == 403
        missing = getattr(usage_api.client, method)(
            "/users/999999/quota", headers=admin.headers, **kwargs
        )
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert (
        usage_api.client.get(f"/users/{other.id}/quota", headers=admin.headers).json()[
            "runs_per_day"
        ]
        is None
    )  # the refused PUT changed nothing


def test_runs_per_day_is_429_with_reset_at_on_rest_websocket_and_v1(
    usage_api: Api, model: ScriptedModelServer
) -> None:
    admin, user = usage_api.register(), usage_api.register()
    _put(usage_api, admin, user.id, {"runs_per_day": 1})
    model.enqueue(text="first")
    assert usage_api.client.post("/chat", json={"message": "a"}, headers=user.headers).is_success
    for path, body in (("/chat", {"message": "b"}), ("/runs", {"goal": "c"})):
        refused = usage_api.client.post(path, json=body, headers=user.headers)
        assert refused.status_code == 429
        assert refused.json()["code"] == "quota_exceeded"
        assert refused.json()["reset_at"] == _midnight()
        assert "QUOTA_RUNS_PER_DAY" in refused.json()["detail"]
    with open_socket(usage_api.base_url, "/chat/ws", user.token) as ws:
        ws.send(json.dumps({"message": "d"}))
        error = json.loads(ws.recv(timeout=10))
    assert error["type"] == "error" and error["data"]["code"] == "quota_exceeded"
    assert error["data"]["reset_at"] == _midnight()
    client = openai.OpenAI(
        base_url=f"{usage_api.base_url}/v1", api_key=api_key(usage_api, user), max_retries=0
    )
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(
            model="agent/assistant", messages=[{"role": "user", "content": "e"}]
        )
    assert caught.value.code == "quota_exceeded"
    assert caught.value.response.json()["error"]["reset_at"] == _midnight()
    # The admin is not held back by another user's quota.
    model.enqueue(text="fine")
    assert usage_api.client.post("/chat", json={"message": "f"}, headers=admin.headers).is_success


def test_a_run_that_crosses_the_token_quota_stops_failed_and_the_next_is_refused(
    settings: Settings, model: ScriptedModelServer
) -> None:
    limited = settings.model_copy(
        update={"ollama_url": model.url, "default_model": "scripted", "quota_tokens_per_day": 30}
    )
    app = create_app(limited, models=scripted_gateway(limited, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        api.register()
        user = api.register()
        # Each call costs well over 30 tokens: the first crosses the quota.
        model.enqueue(tool_calls=[("add", {"a": 1, "b": 2})], text=" ".join(["word"] * 40))
        model.enqueue(text="never asked for")
        answered = api.client.post("/chat", json={"message": "add"}, headers=user.headers)
        answer = answered.json()
        assert answered.status_code == 429  # POST /chat answers the turn's error
        assert answer["code"] == "quota_exceeded" and answer["reset_at"] == _midnight()
        events = api.client.get(f"/runs/{answer['run_id']}/events", headers=user.headers).json()
        errors = [e["data"] for e in events["data"] if e["type"] == "error"]
        assert errors and errors[0]["code"] == "quota_exceeded"
        assert "QUOTA_TOKENS_PER_DAY = 30" in errors[0]["message"]
        assert [e["type"] for e in events["data"]].count("usage") == 1
        run = api.client.get(f"/runs/{answer['run_id']}", headers=user.headers).json()
        assert "token quota" in run["error"]
        assert model.pending == 1  # the second call was never made
        model.reset()
        refused = api.client.post("/runs", json={"goal": "more"}, headers=user.headers)
        assert refused.status_code == 429 and refused.json()["reset_at"] == _midnight()
        used = api.client.get("/usage/quota", headers=user.headers).json()
        assert used["tokens_today"] > 30 and used["limits"]["tokens_per_day"] == 30
        api.client.close()


def test_a_users_own_concurrent_quota_replaces_the_roles(
    usage_api: Api, model: ScriptedModelServer
) -> None:
    admin, user = usage_api.register(), usage_api.register()
    _put(usage_api, admin, user.id, {"concurrent_runs": 1})
    model.enqueue(tool_calls=[("danger", {"note": "x"})])  # waits for an approval
    model.enqueue(text="done")
    first = usage_api.client.post(
        "/runs", json={"goal": "g", "agent": "assistant"}, headers=user.headers
    )
    assert first.status_code == 201
    refused = usage_api.client.post("/runs", json={"goal": "h"}, headers=user.headers)
    assert refused.status_code == 429 and refused.json()["reset_at"] is None
    assert "QUOTA_CONCURRENT_RUNS = 1" in refused.json()["detail"]
    deadline = time.monotonic() + 20
    run_id = first.json()["id"]
    while True:
        events = usage_api.client.get(f"/runs/{run_id}/events", headers=user.headers).json()
        asked = [e for e in events["data"] if e["type"] == "approval_required"]
        if asked:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    usage_api.client.post(
        f"/runs/{run_id}/approvals/{asked[0]['data']['approval_id']}",
        json={"decision": "deny"},
        headers=user.headers,
    )
    while usage_api.client.get(f"/runs/{run_id}", headers=user.headers).json()["status"] not in {
        "succeeded",
        "failed",
    }:
        assert time.monotonic() < deadline + 20
        time.sleep(0.05)
    model.enqueue(text="second")  # the run ended: the next one is admitted
    second = usage_api.client.post("/chat", json={"message": "again"}, headers=user.headers)
    assert second.status_code == 200, second.text
