"""Per-user credentials: encrypted at rest, never shown back, and sent only with their
owner's calls - user B's call never carries user A's token."""

from __future__ import annotations

import http.server
import json
import sqlite3
import threading
from collections.abc import Iterator

import pytest

from orchestrator.core.config import Settings
from orchestrator.mcp import SecretBox, SecretUnreadable
from tests.conftest import Api
from tests.mcp_client.conftest import add_server, agent_turn, python_server
from tests.support.scripted_model import ScriptedModelServer

TOKEN_A = "Bearer token-of-user-a-0123456789"


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A minimal streamable-HTTP MCP server on 127.0.0.1 that records every request's
    headers (JSON answers, no session, no SSE)."""
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if "id" not in message:
                self.send_response(202)
                self.end_headers()
                return
            method = message["method"]
            if method == "initialize":
                result = {
                    "protocolVersion": message["params"]["protocolVersion"],
                    "capabilities": {"tools": {}},
                    "serverInfo": {"name": "recorder", "version": "1"},
                }
            elif method == "tools/list":
                result = {"tools": [{"name": "echo", "inputSchema": {"type": "object"}}]}
            else:
                auth = self.headers.get("Authorization", "none")
                result = {"content": [{"type": "text", "text": f"seen auth: {auth[:6]}"}]}
            body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self.send_response(405)
            self.end_headers()

        do_DELETE = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/mcp", seen
    server.shutdown()


def test_user_bs_call_never_carries_user_as_token(
    recording_server, mcp_api: Api, admin, model: ScriptedModelServer, mcp_settings: Settings
) -> None:
    url, seen = recording_server
    server = add_server(mcp_api, admin, "rec", {"transport": "http", "url": url, "risk": "read"})
    user_a, user_b = mcp_api.register(), mcp_api.register()
    stored = mcp_api.client.put(
        f"/mcp/servers/{server['id']}/credentials",
        json={"headers": {"Authorization": TOKEN_A}},
        headers=user_a.headers,
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["headers"] == ["Authorization"] and TOKEN_A not in stored.text
    seen.clear()
    tools_b = agent_turn(mcp_api, model, user_b, [("rec__echo", {})])
    assert tools_b[0]["result"] == "seen auth: none"
    assert seen and all("authorization" not in h for h in seen)
    seen.clear()
    tools_a = agent_turn(mcp_api, model, user_a, [("rec__echo", {})])
    assert tools_a[0]["result"] == "seen auth: Bearer"
    assert any(h.get("authorization") == TOKEN_A for h in seen)
    seen.clear()
    tools_b = agent_turn(mcp_api, model, user_b, [("rec__echo", {})])  # after A's, still not
    assert all("authorization" not in h for h in seen)
    # Never shown back, never stored in clear.
    for user in (user_a, user_b, admin):
        listed = mcp_api.client.get("/mcp/servers", headers=user.headers)
        assert TOKEN_A not in listed.text
    raw = sqlite3.connect(mcp_settings.data_dir / "orchestrator.db").execute(
        "SELECT secret FROM mcp_credentials"
    )
    assert all("token-of-user-a" not in row[0] for row in raw)


def test_stdio_env_credentials_reach_only_their_owners_server(
    sandbox, mcp_api: Api, admin, model: ScriptedModelServer
) -> None:
    server = add_server(mcp_api, admin, "who", python_server())
    user_a, user_b = mcp_api.register(), mcp_api.register()
    mcp_api.client.put(
        f"/mcp/servers/{server['id']}/credentials",
        json={"env": {"TOKEN": "a-secret-env"}},
        headers=user_a.headers,
    ).raise_for_status()
    assert agent_turn(mcp_api, model, user_a, [("who__whoami", {})])[0]["result"] == (
        "token=a-secret-env"
    )
    assert agent_turn(mcp_api, model, user_b, [("who__whoami", {})])[0]["result"] == "token="


def test_a_sealed_secret_opens_only_for_its_owner_and_key() -> None:
    box = SecretBox("k" * 40)
    sealed = box.seal({"headers": {"Authorization": "x"}}, "credential:s:1")
    assert box.open(sealed, "credential:s:1") == {"headers": {"Authorization": "x"}}
    with pytest.raises(SecretUnreadable):
        box.open(sealed, "credential:s:2")  # copied onto another user
    with pytest.raises(SecretUnreadable):
        SecretBox("j" * 40).open(sealed, "credential:s:1")  # another SECRET_KEY
