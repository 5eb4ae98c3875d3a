"""MCP fixtures: a server whose agents use the scripted model, and the real MCP servers
the tests run (PyPI's `mcp-server-time`/`mcp-server-git` from the dev group, npm's
`@modelcontextprotocol/server-everything` from `tests/mcp_client/servers`, which `make test`
installs)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.tools.sandbox import find_bwrap
from tests.conftest import Account, Api, require_service, scripted_gateway
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import free_port, serve_in_thread
from tests.support.tools import sample_tools

HERE = Path(__file__).parent
SERVERS = HERE / "servers"
EVERYTHING = SERVERS / "node_modules" / "@modelcontextprotocol" / "server-everything"
VENV = Path(sys.prefix)
# What a Python server in the sandbox needs to see: the venv and the interpreter it uses.
PYTHON_PATHS = sorted({str(VENV), str(Path(sys.base_prefix))})
FAKE = HERE / "fake_server.py"


def python_server(*args: str, network: bool = False, **extra: Any) -> dict[str, Any]:
    """A stdio definition running our own misbehaving test server in the sandbox."""
    return {
        "transport": "stdio",
        "command": [str(VENV / "bin" / "python"), str(FAKE), *args],
        "paths": [*PYTHON_PATHS, str(HERE)],
        "risk": "read",
        "network": network,
        **extra,
    }


@pytest.fixture
def sandbox() -> None:
    """bubblewrap must be here (CI installs it)."""
    require_service("bubblewrap (bwrap)", find_bwrap() is not None)


@pytest.fixture
def everything() -> Path:
    """The npm server, installed under tests/mcp_client/servers."""
    require_service(
        "@modelcontextprotocol/server-everything (cd tests/mcp_client/servers && npm ci)",
        (EVERYTHING / "dist" / "index.js").exists(),
    )
    return EVERYTHING


@pytest.fixture
def mcp_settings(settings: Settings, model: ScriptedModelServer) -> Settings:
    return settings.model_copy(
        update={
            "ollama_url": model.url,
            "approval_timeout": 10.0,
            "approval_risks": ["exec", "network"],
            "http_allowlist": ["127.0.0.1"],
            "mcp_call_timeout": 8.0,
            "mcp_connect_timeout": 20.0,
        }
    )


@pytest.fixture
def mcp_api(mcp_settings: Settings, model: ScriptedModelServer) -> Iterator[Api]:
    """A real server with the test tools, the scripted model and MCP servers."""
    app = create_app(
        mcp_settings, models=scripted_gateway(mcp_settings, model), tools=sample_tools()
    )
    with serve_in_thread(app) as url:
        api = Api(url)
        yield api
        api.client.close()


@pytest.fixture
def admin(mcp_api: Api) -> Account:
    return mcp_api.register()


def add_server(api: Api, admin: Account, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Register and refresh a server; the refresh result."""
    created = api.client.post("/mcp/servers", json={"name": name, **body}, headers=admin.headers)
    assert created.status_code == 201, created.text
    refreshed = api.client.post(
        f"/mcp/servers/{created.json()['id']}/refresh", headers=admin.headers, timeout=60
    )
    assert refreshed.status_code == 200, refreshed.text
    return refreshed.json()


def agent_turn(
    api: Api, model: ScriptedModelServer, user: Account, calls: list[tuple[str, dict]]
) -> list[dict[str, Any]]:
    """A chat turn in which the scripted model makes `calls`; the tool outcomes."""
    model.enqueue(tool_calls=calls)
    model.enqueue(text="done")
    answer = api.client.post(
        "/chat", json={"message": "use the tools"}, headers=user.headers, timeout=90
    )
    assert answer.status_code == 200, answer.text
    events = api.client.get(f"/runs/{answer.json()['run_id']}/events", headers=user.headers).json()[
        "data"
    ]
    return [e["data"] for e in events if e["type"] == "tool" and e["data"]["status"] != "started"]


@pytest.fixture
def everything_http(everything: Path) -> Iterator[str]:
    """server-everything over streamable HTTP on 127.0.0.1 (a plain process, as a remote
    server would be)."""
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": str(port)}
    process = subprocess.Popen(
        ["node", str(everything / "dist" / "index.js"), "streamableHttp"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("server-everything did not start") from None
            time.sleep(0.1)
    yield url
    process.kill()
    process.wait(5)
