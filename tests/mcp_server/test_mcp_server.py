"""`/mcp` through the official `mcp` client, as an MCP host would use it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.tools import ToolRegistry
from orchestrator.tools.builtin.files import list_directory, read_file, write_file
from tests.conftest import Account, Api, scripted_gateway
from tests.support.api_keys import api_key
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import CALLS, add, danger, slow


@pytest.fixture
def mcp_api(settings: Settings, model: ScriptedModelServer) -> Iterator[Api]:
    """A real server: the scripted model, a few tools, `exec` refused to non-admins."""
    settings = settings.model_copy(
        update={"ollama_url": model.url, "approval_timeout": 20.0, "user_refused_risks": ["exec"]}
    )
    CALLS.clear()
    tools = ToolRegistry([add, slow, danger, read_file, write_file, list_directory])
    app = create_app(settings, models=scripted_gateway(settings, model), tools=tools)
    with serve_in_thread(app) as url:
        api = Api(url)
        yield api
        api.client.close()


@asynccontextmanager
async def mcp_session(api: Api, key: str) -> AsyncIterator[ClientSession]:
    """An initialised MCP client session on `/mcp` with the key as bearer."""
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    async with (
        http,
        streamable_http_client(f"{api.base_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: Any) -> str:
    return "".join(block.text for block in result.content if block.type == "text")


async def test_lists_the_users_tools_and_every_agent(
    mcp_api: Api, model: ScriptedModelServer
) -> None:
    admin, user = mcp_api.register(), mcp_api.register()
    async with mcp_session(mcp_api, api_key(mcp_api, admin)) as session:
        admin_tools = {t.name: t for t in (await session.list_tools()).tools}
    async with mcp_session(mcp_api, api_key(mcp_api, user)) as session:
        user_tools = {t.name for t in (await session.list_tools()).tools}
    assert {"add", "danger", "read_file", "agent_assistant", "agent_coder"} <= set(admin_tools)
    assert "danger" not in user_tools and {"add", "agent_writer"} <= user_tools  # exec refused
    assert admin_tools["add"].input_schema["properties"].keys() == {"a", "b"}
    assert admin_tools["agent_coder"].input_schema["required"] == ["task"]


async def test_safe_tool_call_answers_and_is_audited(
    mcp_api: Api, model: ScriptedModelServer
) -> None:
    user = mcp_api.register()
    async with mcp_session(mcp_api, api_key(mcp_api, user)) as session:
        result = await session.call_tool("add", {"a": 20, "b": 22})
        assert text_of(result) == "42" and not result.is_error
        bad = await session.call_tool("add", {"a": "many"})
        assert bad.is_error and "a" in text_of(bad)
        missing = await session.call_tool("no_such_tool", {})
        assert missing.is_error and "unknown tool" in text_of(missing)
    runs = mcp_api.client.get("/runs", params={"kind": "tool"}, headers=user.headers).json()
    assert runs["count"] == 2  # the unknown tool started no run
    statuses = sorted(r["status"] for r in runs["data"])
    assert statuses == ["failed", "succeeded"]


async def test_agent_tool_runs_a_turn_with_the_scripted_model(
    mcp_api: Api, model: ScriptedModelServer
) -> None:
    user = mcp_api.register()
    model.enqueue(tool_calls=[("add", {"a": 1, "b": 2})])
    model.enqueue(text="One plus two is 3")
    async with mcp_session(mcp_api, api_key(mcp_api, user)) as session:
        result = await session.call_tool("agent_assistant", {"task": "What is 1 + 2?"})
        assert text_of(result) == "One plus two is 3" and not result.is_error
        empty = await session.call_tool("agent_assistant", {"task": ""})
        assert empty.is_error
    assert model.chat_requests[0].messages[-1]["content"] == "What is 1 + 2?"
    assert CALLS == ["add"]


def _pending_approval(api: Api, user: Account, deadline: float) -> tuple[str, str]:
    while time.monotonic() < deadline:
        runs = api.client.get("/runs", params={"status": "waiting"}, headers=user.headers).json()
        for run in runs["data"]:
            events = api.client.get(f"/runs/{run['id']}/events", headers=user.headers).json()
            for event in events["data"]:
                if event["type"] == "approval_required":
                    return run["id"], event["data"]["approval_id"]
        time.sleep(0.05)
    raise AssertionError("no approval was requested")


async def test_risky_tool_waits_for_approval_through_the_rest_route(
    mcp_api: Api, model: ScriptedModelServer
) -> None:
    admin, other = mcp_api.register(), mcp_api.register()
    async with mcp_session(mcp_api, api_key(mcp_api, admin)) as session:
        call = asyncio.create_task(session.call_tool("danger", {"note": "approved"}))
        run_id, approval_id = await asyncio.to_thread(
            _pending_approval, mcp_api, admin, time.monotonic() + 20
        )
        await asyncio.sleep(0.3)
        assert not call.done() and CALLS == []
        stranger = await asyncio.to_thread(
            mcp_api.client.post,
            f"/runs/{run_id}/approvals/{approval_id}",
            json={"decision": "approve"},
            headers=other.headers,
        )
        assert stranger.status_code == 404
        decided = await asyncio.to_thread(
            mcp_api.client.post,
            f"/runs/{run_id}/approvals/{approval_id}",
            json={"decision": "approve"},
            headers=admin.headers,
        )
        assert decided.status_code == 200, decided.text
        result = await asyncio.wait_for(call, 20)
    assert text_of(result) == "done" and not result.is_error and CALLS == ["danger"]
    assert result.meta is not None and result.meta["run_id"] == run_id  # to find its approvals


async def test_denied_risky_tool_is_an_error_result(
    mcp_api: Api, model: ScriptedModelServer
) -> None:
    admin = mcp_api.register()
    async with mcp_session(mcp_api, api_key(mcp_api, admin)) as session:
        call = asyncio.create_task(session.call_tool("danger", {"note": "no"}))
        run_id, approval_id = await asyncio.to_thread(
            _pending_approval, mcp_api, admin, time.monotonic() + 20
        )
        await asyncio.to_thread(
            mcp_api.client.post,
            f"/runs/{run_id}/approvals/{approval_id}",
            json={"decision": "deny"},
            headers=admin.headers,
        )
        result = await asyncio.wait_for(call, 20)
    assert result.is_error and "denied" in text_of(result) and CALLS == []


async def test_a_users_key_reaches_only_their_own_data(
    mcp_api: Api, model: ScriptedModelServer
) -> None:
    alice, bob = mcp_api.register(), mcp_api.register()
    async with mcp_session(mcp_api, api_key(mcp_api, alice)) as session:
        wrote = await session.call_tool("write_file", {"path": "secret.txt", "content": "alice"})
        assert not wrote.is_error
        assert text_of(await session.call_tool("read_file", {"path": "secret.txt"})) == "alice"
    async with mcp_session(mcp_api, api_key(mcp_api, bob)) as session:
        read = await session.call_tool("read_file", {"path": "secret.txt"})
        assert read.is_error and "alice" not in text_of(read)
        listing = await session.call_tool("list_directory", {})
        assert "secret" not in text_of(listing)
        escape = await session.call_tool("read_file", {"path": "../1/secret.txt"})
        assert escape.is_error and "alice" not in text_of(escape)
        danger_call = await session.call_tool("danger", {"note": "x"})  # exec is refused to him
        assert danger_call.is_error
    bob_runs = mcp_api.client.get("/runs", headers=bob.headers).json()["data"]
    alice_runs = mcp_api.client.get("/runs", headers=alice.headers).json()["data"]
    assert {r["id"] for r in bob_runs}.isdisjoint({r["id"] for r in alice_runs})
    assert CALLS == []


@pytest.mark.parametrize("key", [None, "Basic abc", "Bearer garbage", "Bearer orch_not-a-real-key"])
def test_no_valid_key_is_401(mcp_api: Api, key: str | None) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    if key is not None:
        headers["Authorization"] = key
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }
    response = httpx.post(f"{mcp_api.base_url}/mcp", json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthorized"


async def test_mcp_client_without_a_key_fails(mcp_api: Api) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the SDK raises its own wrapping errors
        async with mcp_session(mcp_api, "wrong"):
            pass


def test_the_sdk_is_not_imported_at_start_up(tmp_path: Any) -> None:
    code = (
        "import sys\n"
        "from orchestrator.app import create_app\n"
        "create_app()\n"
        "print('mcp' in sys.modules, 'mcp.server' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert out.stdout.split() == ["False", "False"]


async def test_a_tool_the_admin_switched_off_is_neither_listed_nor_run(
    mcp_api: Api, model: ScriptedModelServer
) -> None:
    admin = mcp_api.register()
    switched = await asyncio.to_thread(
        mcp_api.client.patch, "/tools/add", json={"enabled": False}, headers=admin.headers
    )
    assert switched.status_code == 200, switched.text
    async with mcp_session(mcp_api, api_key(mcp_api, admin)) as session:
        assert "add" not in {t.name for t in (await session.list_tools()).tools}
        result = await session.call_tool("add", {"a": 1, "b": 2})
        too_long = await session.call_tool("agent_assistant", {"task": "x" * 100_001})
    assert result.is_error and "unknown tool" in text_of(result)
    assert too_long.is_error and model.chat_requests == []


async def test_a_deleted_key_is_refused_at_once(mcp_api: Api, model: ScriptedModelServer) -> None:
    user = mcp_api.register()
    key = api_key(mcp_api, user)
    async with mcp_session(mcp_api, key) as session:
        assert (await session.call_tool("add", {"a": 1, "b": 1})).is_error is False
    keys = mcp_api.client.get("/auth/api-keys", headers=user.headers).json()["data"]
    mcp_api.client.delete(f"/auth/api-keys/{keys[0]['id']}", headers=user.headers)
    response = httpx.post(
        f"{mcp_api.base_url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 401


async def test_over_the_concurrent_run_quota_a_call_is_an_error_result(
    settings: Settings, model: ScriptedModelServer
) -> None:
    limited = settings.model_copy(update={"ollama_url": model.url, "quota_concurrent_runs": 1})
    app = create_app(limited, models=scripted_gateway(limited, model), tools=ToolRegistry([slow]))
    with serve_in_thread(app) as url:
        api = Api(url)
        api.register()  # the admin: quotas are for users
        user = api.register()
        async with mcp_session(api, api_key(api, user)) as session:
            busy = asyncio.create_task(session.call_tool("slow", {"seconds": 2}))
            await asyncio.sleep(0.5)
            refused = await session.call_tool("slow", {"seconds": 0})
            assert refused.is_error and "QUOTA_CONCURRENT_RUNS" in text_of(refused)
            assert not (await busy).is_error
        api.client.close()
