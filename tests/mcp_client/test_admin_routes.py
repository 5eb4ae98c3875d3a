"""The admin routes: bad definitions are 422 with the reason, secrets are masked,
users cannot manage servers, and a missing or hidden server is 404."""

from __future__ import annotations

from tests.conftest import Api
from tests.mcp_client.conftest import VENV

STDIO = {"name": "t", "transport": "stdio", "command": [str(VENV / "bin" / "python")]}


def test_malformed_definitions_get_a_422_with_the_reason(api: Api) -> None:
    admin = api.register()
    bad = [
        ({**STDIO, "command": "python -m server"}, "list"),
        ({**STDIO, "command": []}, "command"),
        ({"name": "t", "transport": "stdio"}, "needs `command`"),
        ({"name": "t", "transport": "http", "url": "http://127.0.0.1:9/mcp"}, "loopback"),
        ({"name": "t", "transport": "http", "url": "http://169.254.169.254/"}, "metadata"),
        ({"name": "t", "transport": "http", "url": "file:///etc/passwd"}, "http"),
        ({"name": "a__b", **{k: v for k, v in STDIO.items() if k != "name"}}, "name"),
        ({**STDIO, "paths": ["relative/dir"]}, "paths"),
        ({**STDIO, "paths": ["/"]}, "cannot be shown"),
        ({**STDIO, "paths": ["/does/not/exist"]}, "does not exist"),
        ({**STDIO, "risk": "root"}, "risk"),
        ({**STDIO, "env": {"BAD NAME": "x"}}, "env"),
        (
            {
                "name": "t",
                "transport": "http",
                "url": "https://example.org",
                "headers": {"Host": "x"},
            },
            "Host",
        ),
    ]
    for body, reason in bad:
        response = api.client.post("/mcp/servers", json=body, headers=admin.headers)
        assert response.status_code == 422, (body, response.text)
        assert reason in response.text, (reason, response.text)
    created = api.client.post("/mcp/servers", json=STDIO, headers=admin.headers)
    assert created.status_code == 201
    duplicate = api.client.post("/mcp/servers", json=STDIO, headers=admin.headers)
    assert duplicate.status_code == 422 and "already exists" in duplicate.text


def test_data_dir_is_never_shown_to_a_server(api: Api, settings) -> None:
    admin = api.register()
    for path in (str(settings.data_dir), str(settings.data_dir.parent)):
        response = api.client.post(
            "/mcp/servers", json={**STDIO, "paths": [path]}, headers=admin.headers
        )
        assert response.status_code == 422 and "DATA_DIR" in response.text


def test_secrets_are_masked_and_kept_on_patch(api: Api) -> None:
    admin = api.register()
    body = {**STDIO, "env": {"API_KEY": "very-secret-value"}}
    created = api.client.post("/mcp/servers", json=body, headers=admin.headers).json()
    assert created["env"] == {"API_KEY": "********"}
    patched = api.client.patch(
        f"/mcp/servers/{created['id']}",
        json={"env": {"API_KEY": "********", "OTHER": "x"}, "risk": "read"},
        headers=admin.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["env"] == {"API_KEY": "********", "OTHER": "********"}
    assert "very-secret-value" not in api.client.get("/mcp/servers", headers=admin.headers).text
    bad = api.client.patch(
        f"/mcp/servers/{created['id']}", json={"command": "not a list"}, headers=admin.headers
    )
    assert bad.status_code == 422


def test_users_cannot_manage_servers_and_hidden_ones_are_404(api: Api) -> None:
    admin, user = api.register(), api.register()
    created = api.client.post(
        "/mcp/servers", json={**STDIO, "enabled": False}, headers=admin.headers
    ).json()
    sid = created["id"]
    assert api.client.post("/mcp/servers", json=STDIO, headers=user.headers).status_code == 403
    assert api.client.patch(f"/mcp/servers/{sid}", json={}, headers=user.headers).status_code == 403
    assert api.client.delete(f"/mcp/servers/{sid}", headers=user.headers).status_code == 403
    assert api.client.post(f"/mcp/servers/{sid}/refresh", headers=user.headers).status_code == 403
    # A disabled server is hidden from users exactly like a missing one.
    for target in (sid, "no-such-server"):
        got = api.client.get(f"/mcp/servers/{target}", headers=user.headers)
        assert got.status_code == 404 and got.json()["detail"] == "MCP server not found"
        put = api.client.put(
            f"/mcp/servers/{target}/credentials", json={"env": {"A": "b"}}, headers=user.headers
        )
        assert put.status_code == 404
    assert api.client.get("/mcp/servers", headers=user.headers).json()["count"] == 0
    assert api.client.get(f"/mcp/servers/{sid}", headers=admin.headers).status_code == 200
    assert api.client.delete("/mcp/servers/nope", headers=admin.headers).status_code == 404
