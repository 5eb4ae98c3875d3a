"""API keys: created, listed, shown once, stored hashed, accepted wherever a token is,
refused at once when deleted, expired or their owner deactivated."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from websockets.exceptions import ConnectionClosed

from orchestrator.core.config import Settings
from orchestrator.db.models import ApiKey, utcnow
from orchestrator.db.session import create_engine, create_session_factory
from tests.conftest import Account, Api
from tests.support.ws import open_socket

KEY_FIELDS = {"id", "name", "prefix", "created_at", "expires_at", "last_used_at"}


def _create(api: Api, user: Account, **body: object) -> dict[str, object]:
    answer = api.client.post("/auth/api-keys", json={"name": "ci", **body}, headers=user.headers)
    assert answer.status_code == 201, answer.text
    created: dict[str, object] = answer.json()
    return created


def _bearer(key: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _stored_rows(settings: Settings) -> list[ApiKey]:
    async def rows() -> list[ApiKey]:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as db:
                return list(await db.scalars(select(ApiKey)))
        finally:
            await engine.dispose()

    return asyncio.run(rows())


def test_key_is_shown_once_stored_hashed_and_works_as_its_owner(
    settings: Settings, api: Api
) -> None:
    alice = api.register()
    created = _create(api, alice, expires_days=30)
    key = str(created["key"])
    assert key.startswith("orch_") and len(key) > 40
    assert set(created) == KEY_FIELDS | {"key"} and key.startswith(str(created["prefix"]))
    assert created["last_used_at"] is None and created["expires_at"] is not None

    me = api.client.get("/auth/me", headers=_bearer(key))
    assert me.status_code == 200 and me.json()["id"] == alice.id
    listed = api.client.get("/auth/api-keys", headers=alice.headers).json()
    assert listed["count"] == 1 and set(listed["data"][0]) == KEY_FIELDS
    assert listed["data"][0]["last_used_at"] is not None
    assert key not in json.dumps(listed)
    (row,) = _stored_rows(settings)
    assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64


def test_deleted_key_is_refused_at_once_and_other_users_key_ids_are_404(api: Api) -> None:
    alice, bob = api.register(), api.register()
    created = _create(api, alice)
    path = f"/auth/api-keys/{created['id']}"
    assert api.client.delete(path, headers=bob.headers).status_code == 404
    assert api.client.delete("/auth/api-keys/nope", headers=bob.headers).json() == {
        "detail": "API key not found",
        "code": "not_found",
    }
    assert api.client.get("/auth/api-keys", headers=bob.headers).json()["count"] == 0
    assert api.client.get("/auth/me", headers=_bearer(created["key"])).status_code == 200
    assert api.client.delete(path, headers=alice.headers).status_code == 204
    assert api.client.get("/auth/me", headers=_bearer(created["key"])).status_code == 401
    assert api.client.delete(path, headers=alice.headers).status_code == 404


def test_key_of_a_deactivated_owner_is_refused(api: Api) -> None:
    admin, user = api.register(), api.register()
    created = _create(api, user)
    off = api.client.patch(f"/users/{user.id}", json={"is_active": False}, headers=admin.headers)
    assert off.status_code == 200
    assert api.client.get("/auth/me", headers=_bearer(created["key"])).status_code == 401
    api.client.patch(f"/users/{user.id}", json={"is_active": True}, headers=admin.headers)
    assert api.client.get("/auth/me", headers=_bearer(created["key"])).status_code == 200


def test_expired_key_is_refused(settings: Settings, api: Api) -> None:
    user = api.register()
    created = _create(api, user, expires_days=1)
    assert api.client.get("/auth/me", headers=_bearer(created["key"])).status_code == 200

    async def expire() -> None:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as db:
                past = utcnow() - timedelta(seconds=1)
                await db.execute(update(ApiKey).values(expires_at=past))
                await db.commit()
        finally:
            await engine.dispose()

    asyncio.run(expire())
    answer = api.client.get("/auth/me", headers=_bearer(created["key"]))
    assert answer.status_code == 401 and answer.json()["detail"] == "API key expired"


def test_unknown_malformed_and_huge_keys_are_401(api: Api) -> None:
    user = api.register()
    _create(api, user)
    for key in ("orch_", "orch_" + "A" * 43, "orch_" + "x" * 10_000, "orch_\u00e9\u00e9"):
        answer = api.client.get("/auth/me", headers={"Authorization": f"Bearer {key}".encode()})
        assert answer.status_code == 401, (key[:20], answer.text)


def test_bad_key_requests_answer_422(api: Api) -> None:
    user = api.register()
    for body in (
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "ok", "expires_days": 0},
        {"name": "ok", "expires_days": "soon"},
        {"name": "ok", "expires_days": 10**9},
        {"name": "ok", "user_id": 1},
    ):
        answer = api.client.post("/auth/api-keys", json=body, headers=user.headers)
        assert answer.status_code == 422, (body, answer.text)
    assert api.client.get("/auth/api-keys", headers=user.headers).json()["count"] == 0
    assert api.client.get("/auth/api-keys").status_code == 401


def test_a_key_authenticates_websockets_by_query_and_by_auth_message(api: Api) -> None:
    user = api.register()
    key = str(_create(api, user)["key"])
    for token, first in ((key, None), (None, {"type": "auth", "token": key})):
        with open_socket(api.base_url, "/chat/ws", token) as ws:
            if first is not None:
                ws.send(json.dumps(first))
            ws.send(json.dumps({"type": "cancel", "run_id": "missing"}))
            reply = json.loads(ws.recv(timeout=10))
            assert reply["data"]["code"] == "not_found", reply  # authenticated, then served
    with (
        open_socket(api.base_url, "/chat/ws", "orch_wrong") as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
