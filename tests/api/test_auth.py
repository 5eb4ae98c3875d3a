"""Registration, login, throttling and the approval flow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Registration, Settings
from tests.conftest import Api
from tests.support.server import serve_in_thread


def test_first_account_becomes_admin_and_later_ones_users(any_db_api: Api) -> None:
    first = any_db_api.register("alice")
    second = any_db_api.register("bob")
    me = any_db_api.client.get("/auth/me", headers=first.headers).json()
    assert me["role"] == "admin" and me["is_active"] is True
    assert set(me) == {"id", "username", "email", "role", "is_active", "language", "created_at"}
    assert any_db_api.client.get("/auth/me", headers=second.headers).json()["role"] == "user"


def test_login_returns_token_and_user(api: Api) -> None:
    api.register("carol")
    body = api.client.post(
        "/auth/login", json={"username": "carol", "password": "correct-horse-1"}
    ).json()
    assert body["token_type"] == "bearer" and body["user"]["username"] == "carol"
    assert "password" not in str(body["user"])


def test_wrong_password_and_unknown_user_answer_alike(api: Api) -> None:
    api.register("dave")
    wrong = api.client.post("/auth/login", json={"username": "dave", "password": "nope-nope-1"})
    unknown = api.client.post("/auth/login", json={"username": "ghost", "password": "nope-nope-1"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_repeated_failures_are_throttled_per_username(api: Api) -> None:
    api.register("erin")
    codes = [
        api.client.post(
            "/auth/login", json={"username": "erin", "password": "wrong-pass"}
        ).status_code
        for _ in range(6)
    ]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    locked = api.client.post(
        "/auth/login", json={"username": "erin", "password": "correct-horse-1"}
    )
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    # Another username from the same client is not locked out.
    api.register("frank")


def test_duplicate_username_conflicts(api: Api) -> None:
    api.register("gina")
    again = api.client.post(
        "/auth/register", json={"username": "gina", "password": "another-pass-1"}
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"username": "ab", "password": "long-enough-1"},
        {"username": "a" * 65, "password": "long-enough-1"},
        {"username": "bad name", "password": "long-enough-1"},
        {"username": "ok_name", "password": "short"},
        {"username": "ok_name", "password": "x" * 257},
        {"username": "ok_name", "password": "long-enough-1", "email": "not-an-email"},
        {"username": 123, "password": "long-enough-1"},
        {"password": "long-enough-1"},
    ],
)
def test_register_rejects_bad_input(api: Api, body: dict[str, object]) -> None:
    response = api.client.post("/auth/register", json=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_me_requires_valid_token(api: Api) -> None:
    assert api.client.get("/auth/me").status_code == 401
    bad = api.client.get("/auth/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert bad.status_code == 401 and bad.json()["detail"] == "invalid token"


@pytest.fixture
def approval_api(settings: Settings) -> Iterator[Api]:
    with serve_in_thread(
        create_app(settings.model_copy(update={"registration": Registration.APPROVAL}))
    ) as url:
        yield Api(url)


def test_pending_account_cannot_log_in_until_activated(approval_api: Api) -> None:
    admin = approval_api.register("admin1")
    created = approval_api.client.post(
        "/auth/register", json={"username": "newbie", "password": "password-1"}
    )
    assert created.status_code == 201 and created.json()["is_active"] is False
    denied = approval_api.client.post(
        "/auth/login", json={"username": "newbie", "password": "password-1"}
    )
    assert denied.status_code == 403 and "approval" in denied.json()["detail"]
    user_id = created.json()["id"]
    activated = approval_api.client.patch(
        f"/users/{user_id}", json={"is_active": True}, headers=admin.headers
    )
    assert activated.status_code == 200
    assert approval_api.login("newbie", "password-1").id == user_id


def test_closed_registration_refuses_after_first(settings: Settings) -> None:
    with serve_in_thread(
        create_app(settings.model_copy(update={"registration": Registration.CLOSED}))
    ) as url:
        api = Api(url)
        api.register("owner")
        refused = api.client.post(
            "/auth/register", json={"username": "late", "password": "password-1"}
        )
        assert refused.status_code == 403 and "closed" in refused.json()["detail"]
