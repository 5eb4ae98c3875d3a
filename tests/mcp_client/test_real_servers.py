"""Third-party MCP servers from the registries, through whole agent turns: PyPI's
`mcp-server-time` and `mcp-server-git` and npm's `server-everything` over stdio in the
sandbox, and `server-everything` over streamable HTTP."""

from __future__ import annotations

import subprocess
from pathlib import Path

from orchestrator.core.config import Settings
from tests.conftest import Api
from tests.mcp_client.conftest import PYTHON_PATHS, VENV, add_server, agent_turn
from tests.support.scripted_model import ScriptedModelServer


def test_time_server_over_stdio_in_the_sandbox(
    sandbox, mcp_api: Api, admin, model: ScriptedModelServer
) -> None:
    server = add_server(
        mcp_api,
        admin,
        "time",
        {
            "transport": "stdio",
            "command": [str(VENV / "bin" / "mcp-server-time"), "--local-timezone", "UTC"],
            "paths": PYTHON_PATHS,
            "risk": "read",
        },
    )
    assert "time__get_current_time" in server["tools"]
    assert server["skipped"] == []
    tools = agent_turn(
        mcp_api, model, admin, [("time__get_current_time", {"timezone": "Europe/Paris"})]
    )
    assert tools[0]["status"] == "finished", tools
    assert "Europe/Paris" in tools[0]["result"]
    listed = mcp_api.client.get("/tools/time__get_current_time", headers=admin.headers).json()
    assert listed["risk"] == "read" and listed["stats"]["calls"] == 1


def test_git_server_works_on_the_users_workspace_only(
    sandbox, mcp_api: Api, admin, model: ScriptedModelServer, mcp_settings: Settings
) -> None:
    workspace = mcp_settings.workspaces_dir / str(admin.id)
    workspace.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    (workspace / "hello.txt").write_text("hi")
    server = add_server(
        mcp_api,
        admin,
        "git",
        {
            "transport": "stdio",
            "command": [str(VENV / "bin" / "mcp-server-git"), "--repository", "/workspace"],
            "paths": PYTHON_PATHS,
            "risk": "read",
        },
    )
    assert "git__git_status" in server["tools"]
    outside = str(Path(__file__).resolve().parents[2])  # this repository, on the host
    tools = agent_turn(
        mcp_api,
        model,
        admin,
        [
            ("git__git_status", {"repo_path": "/workspace"}),
            ("git__git_status", {"repo_path": outside}),
        ],
    )
    assert tools[0]["status"] == "finished", tools
    assert "hello.txt" in tools[0]["result"]
    assert tools[1]["status"] == "failed", tools
    assert "hello.txt" not in tools[1]["result"]


def test_everything_server_over_stdio_in_the_sandbox(
    sandbox, everything: Path, mcp_api: Api, admin, model: ScriptedModelServer
) -> None:
    server = add_server(
        mcp_api,
        admin,
        "everything",
        {
            "transport": "stdio",
            "command": ["/usr/bin/node", str(everything / "dist" / "index.js"), "stdio"],
            "paths": [str(everything.parents[1])],
            "risk": "read",
        },
    )
    assert "everything__echo" in server["tools"]
    tools = agent_turn(
        mcp_api,
        model,
        admin,
        [
            ("everything__echo", {"message": "hello from the sandbox"}),
            ("everything__get-tiny-image", {}),
        ],
    )
    assert tools[0]["status"] == "finished", tools
    assert "hello from the sandbox" in tools[0]["result"]
    assert "[image: image/png" in tools[1]["result"], tools[1]


def test_everything_server_over_streamable_http(
    everything_http: str, mcp_api: Api, admin, model: ScriptedModelServer
) -> None:
    server = add_server(
        mcp_api, admin, "remote", {"transport": "http", "url": everything_http, "risk": "read"}
    )
    assert "remote__echo" in server["tools"]
    tools = agent_turn(mcp_api, model, admin, [("remote__echo", {"message": "over http"})])
    assert tools[0]["status"] == "finished", tools
    assert "over http" in tools[0]["result"]
