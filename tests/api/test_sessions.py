"""Sessions: short access tokens, rotating refresh tokens with reuse detection, logout,
password change, the token version, and the web app's cookies with their CSRF header."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Account, Api

PASSWORD = "correct-horse-1"


def _login(api: Api, username: str, password: str = PASSWORD, **extra: object) -> httpx.Response:
    answer = api.client.post(
        "/auth/login", json={"username": username, "password": password, **extra}
    )
    assert answer.status_code == 200, answer.text
    return answer


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _me(api: Api, token: str) -> int:
    return api.client.get("/auth/me", headers=_bearer(token)).status_code


def _refresh(api: Api, refresh_token: str) -> httpx.Response:
    return api.client.post("/auth/refresh", json={"refresh_token": refresh_token})


def test_login_gives_a_short_access_token_and_a_refresh_token(api: Api) -> None:
    user = api.register()
    body = _login(api, user.username).json()
    assert body["expires_in"] == 15 * 60 and body["refresh_token"]
    assert api.client.cookies.get("orch_access") is None  # programs get no cookies


def test_refresh_rotates_and_a_replayed_token_revokes_its_family(api: Api) -> None:
    user = api.register()
    first = _login(api, user.username).json()
    rotated = _refresh(api, first["refresh_token"])
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert _me(api, second["access_token"]) == 200

    # The thief replays the stolen, already used token: the whole family dies.
    replay = _refresh(api, first["refresh_token"])
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    assert _refresh(api, second["refresh_token"]).status_code == 401
    assert _me(api, second["access_token"]) == 401
    assert _me(api, first["access_token"]) == 401
    # Another session of the same user lives on.
    other = _login(api, user.username).json()
    assert _me(api, other["access_token"]) == 200
    assert _refresh(api, other["refresh_token"]).status_code == 200


def test_logout_ends_that_session_at_once(api: Api) -> None:
    user = api.register()
    kept = _login(api, user.username).json()
    ended = _login(api, user.username).json()
    out = api.client.post("/auth/logout", headers=_bearer(ended["access_token"]))
    assert out.status_code == 204
    assert _me(api, ended["access_token"]) == 401
    assert _refresh(api, ended["refresh_token"]).status_code == 401
    assert _me(api, kept["access_token"]) == 200


def test_logout_by_refresh_token_alone(api: Api) -> None:
    user = api.register()
    session = _login(api, user.username).json()
    out = api.client.post("/auth/logout", json={"refresh_token": session["refresh_token"]})
    assert out.status_code == 204
    assert _refresh(api, session["refresh_token"]).status_code == 401
    assert _me(api, session["access_token"]) == 401


def test_password_change_ends_every_session_and_starts_a_new_one(api: Api) -> None:
    user = api.register()
    other = _login(api, user.username).json()
    wrong = api.client.post(
        "/auth/password",
        json={"current": "not-it-at-all", "new": "new-horse-22"},
        headers=user.headers,
    )
    assert wrong.status_code == 401 and _me(api, user.token) == 200
    changed = api.client.post(
        "/auth/password", json={"current": PASSWORD, "new": "new-horse-22"}, headers=user.headers
    )
    assert changed.status_code == 200, changed.text
    assert _me(api, user.token) == 401 and _me(api, other["access_token"]) == 401
    assert _refresh(api, other["refresh_token"]).status_code == 401
    assert _me(api, changed.json()["access_token"]) == 200
    assert (
        api.client.post(
            "/auth/login", json={"username": user.username, "password": PASSWORD}
        ).status_code
        == 401
    )
    assert _login(api, user.username, "new-horse-22").status_code == 200


@pytest.mark.parametrize("change", [{"is_active": False}, {"role": "admin"}])
def test_deactivation_or_role_change_ends_sessions(api: Api, change: dict[str, object]) -> None:
    admin, user = api.register(), api.register()
    session = _login(api, user.username).json()
    assert (
        api.client.patch(f"/users/{user.id}", json=change, headers=admin.headers).status_code == 200
    )
    assert _me(api, user.token) == 401 and _me(api, session["access_token"]) == 401
    assert _refresh(api, session["refresh_token"]).status_code == 401


def test_bad_refresh_input(api: Api) -> None:
    for body in ({"refresh_token": "nope"}, {"refresh_token": "x" * 129}, {"other": 1}, {}):
        answer = api.client.post("/auth/refresh", json=body)
        assert answer.status_code in (401, 422), (body, answer.text)
    assert api.client.post("/auth/refresh").status_code == 401


# -- the web app's cookies ---------------------------------------------------------------


def _browser(api: Api, user: Account) -> httpx.Client:
    """A client that keeps cookies, signed in as the web app is."""
    client = httpx.Client(base_url=f"{api.base_url}/api/v1", timeout=30)
    answer = client.post(
        "/auth/login", json={"username": user.username, "password": PASSWORD, "cookie": True}
    )
    assert answer.status_code == 200 and answer.json()["refresh_token"] is None
    return client


def _csrf(client: httpx.Client) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["orch_csrf"]}


def test_cookie_session_is_httponly_strict_and_reads_without_csrf(api: Api) -> None:
    user = api.register()
    client = httpx.Client(base_url=f"{api.base_url}/api/v1", timeout=30)
    answer = client.post(
        "/auth/login", json={"username": user.username, "password": PASSWORD, "cookie": True}
    )
    cookies = answer.headers.get_list("set-cookie")
    by_name = {c.split("=", 1)[0]: c.lower() for c in cookies}
    assert {"orch_access", "orch_refresh", "orch_csrf"} <= set(by_name)
    for name in ("orch_access", "orch_refresh"):
        assert "httponly" in by_name[name] and "samesite=strict" in by_name[name]
    assert "httponly" not in by_name["orch_csrf"]
    assert "path=/api/v1/auth" in by_name["orch_refresh"]
    assert client.get("/auth/me").json()["id"] == user.id
    client.close()


def test_cookie_writes_without_the_csrf_header_are_refused(api: Api) -> None:
    user = api.register()
    client = _browser(api, user)
    refused = client.post("/memory", json={"content": "no csrf"})
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    wrong = client.post("/memory", json={"content": "x"}, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    assert client.post("/auth/refresh").status_code == 403
    assert client.post("/auth/logout").status_code == 403
    assert client.get("/memory").json()["count"] == 0  # nothing was written
    ok = client.post("/auth/api-keys", json={"name": "k"}, headers=_csrf(client))
    assert ok.status_code == 201
    client.close()


def test_cookie_refresh_rotates_and_logout_clears(api: Api) -> None:
    user = api.register()
    client = _browser(api, user)
    before = client.cookies["orch_refresh"]
    rotated = client.post("/auth/refresh", headers=_csrf(client))
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] is None
    assert client.cookies["orch_refresh"] != before
    assert client.get("/auth/me").status_code == 200
    access = client.cookies["orch_access"]
    assert client.post("/auth/logout", headers=_csrf(client)).status_code == 204
    assert "orch_access" not in client.cookies
    assert _me(api, access) == 401
    assert client.get("/auth/me").status_code == 401
    client.close()


def test_websocket_authenticates_by_cookie(api: Api) -> None:
    from websockets.sync.client import connect

    user = api.register()
    client = _browser(api, user)
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    url = api.base_url.replace("http://", "ws://") + "/api/v1/chat/ws"
    with connect(url, additional_headers={"Cookie": cookie, "Origin": api.base_url}) as ws:
        ws.send('{"type": "cancel", "run_id": "missing"}')
        assert '"not_found"' in ws.recv(timeout=10)
    client.close()
