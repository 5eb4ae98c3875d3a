"""The errors the web app shows carry a stable `code` it translates (its `errors.<code>`
messages), with `detail` in words for everyone else."""

from __future__ import annotations

import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.core.errors import Conflict, NotFound, status_for_code
from tests.conftest import Api
from tests.support.server import serve_in_thread


def _code(response: object, status: int) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["detail"], body  # words for people and programs that do not translate
    return str(body["code"])


def test_the_common_errors_carry_their_code(api: Api) -> None:
    http = api.client
    admin = api.register("root")
    user = api.register("plain")
    login = {"username": "plain", "password": "wrong-password-1"}
    assert _code(http.post("/auth/login", json=login), 401) == "invalid_credentials"
    taken = {"username": "PLAIN", "password": "correct-horse-1"}
    assert _code(http.post("/auth/register", json=taken), 409) == "username_taken"
    short = {"username": "x", "password": "short"}
    assert _code(http.post("/auth/register", json=short), 422) == "invalid_input"
    change = {"current": "not-the-password", "new": "another-pass-1"}
    assert _code(http.post("/auth/password", json=change, headers=user.headers), 401) == (
        "wrong_password"
    )
    assert _code(http.get("/users", headers=user.headers), 403) == "admin_only"
    assert _code(http.get("/auth/me"), 401) == "unauthorized"
    missing = http.get("/conversations/00000000-0000-0000-0000-000000000000", headers=user.headers)
    assert _code(missing, 404) == "not_found"
    demote = http.patch(f"/users/{admin.id}", json={"role": "user"}, headers=admin.headers)
    assert _code(demote, 409) == "last_admin"
    builtin = http.delete("/agents/assistant", headers=admin.headers)
    assert _code(builtin, 403) == "builtin_agent_readonly"


def test_too_many_failed_logins_answer_rate_limited(settings: Settings) -> None:
    with serve_in_thread(create_app(settings.model_copy(update={"login_max_failures": 2}))) as url:
        api = Api(url)
        api.register("target")
        wrong = {"username": "target", "password": "wrong-password-1"}
        codes = [api.client.post("/auth/login", json=wrong) for _ in range(3)]
        api.client.close()
    assert [r.status_code for r in codes] == [401, 401, 429]
    assert codes[-1].json()["code"] == "rate_limited"
    assert int(codes[-1].headers["Retry-After"]) > 0


def test_closed_registration_says_so(settings: Settings) -> None:
    closed = settings.model_copy(update={"registration": "closed"})
    with serve_in_thread(create_app(closed)) as url:
        api = Api(url)
        api.register("first")  # the first account is always made (the admin)
        refused = api.client.post(
            "/auth/register", json={"username": "second", "password": "x" * 10}
        )
        api.client.close()
    assert _code(refused, 403) == "registration_closed"


def test_a_specific_code_keeps_its_class_status() -> None:
    assert Conflict("taken", code="username_taken").code == "username_taken"
    assert Conflict("plain").code == "conflict"
    assert status_for_code("username_taken") == 409 and status_for_code("admin_only") == 403
    with pytest.raises(ValueError, match="not a specific code"):
        NotFound("nope", code="username_taken")  # a 404 cannot carry a 409's code
