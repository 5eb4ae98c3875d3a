"""`/mcp` offers the tools of the admin's MCP client servers (`SERVER__TOOL`) as agents
and `GET /tools` see them: listed, callable as a `tool` run, and hidden like a built-in
when the admin switches one off or its server's risk is refused to the caller's role."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.tools import ToolRegistry
from tests.conftest import Api, scripted_gateway
from tests.mcp_client.conftest import add_server, python_server, sandbox
from tests.mcp_server.test_mcp_server import mcp_session, text_of
from tests.support.api_keys import api_key
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import add

__all__ = ["sandbox"]


@pytest.fixture
def mcp_api(settings: Settings, model: ScriptedModelServer, sandbox: None) -> Iterator[Api]:
    """A real server with one built-in tool; `exec` refused to non-admins."""
    settings = settings.model_copy(
        update={
            "ollama_url": model.url,
            "user_refused_risks": ["exec"],
            "mcp_call_timeout": 8.0,
            "mcp_connect_timeout": 20.0,
        }
    )
    app = create_app(settings, models=scripted_gateway(settings, model), tools=ToolRegistry([add]))
    with serve_in_thread(app) as url:
        api = Api(url)
        yield api
        api.client.close()


async def test_mcp_server_tools_are_listed_called_and_hidden_like_built_ins(
    mcp_api: Api,
) -> None:
    admin, user = mcp_api.register(), mcp_api.register()
    await asyncio.to_thread(add_server, mcp_api, admin, "fake", python_server())
    await asyncio.to_thread(add_server, mcp_api, admin, "risky", python_server(risk="exec"))
    admin_key, user_key = api_key(mcp_api, admin), api_key(mcp_api, user)

    async with mcp_session(mcp_api, admin_key) as session:
        admin_tools = {t.name: t for t in (await session.list_tools()).tools}
    assert {"add", "fake__echo", "risky__echo", "agent_assistant"} <= set(admin_tools)
    assert admin_tools["fake__echo"].input_schema["properties"] == {"text": {"type": "string"}}

    async with mcp_session(mcp_api, user_key) as session:
        user_tools = {t.name for t in (await session.list_tools()).tools}
        echoed = await session.call_tool("fake__echo", {"text": "hello"})
        refused = await session.call_tool("risky__echo", {"text": "hello"})
    assert "fake__echo" in user_tools and "risky__echo" not in user_tools  # exec refused
    assert not echoed.is_error and text_of(echoed) == "echo: hello"
    assert refused.is_error and "unknown tool" in text_of(refused)
    runs = mcp_api.client.get("/runs", params={"kind": "tool"}, headers=user.headers).json()
    assert [(r["goal"], r["status"]) for r in runs["data"]] == [
        ('fake__echo {"text": "hello"}', "succeeded")
    ]

    switched = await asyncio.to_thread(
        mcp_api.client.patch, "/tools/fake__echo", json={"enabled": False}, headers=admin.headers
    )
    assert switched.status_code == 200, switched.text
    async with mcp_session(mcp_api, admin_key) as session:
        assert "fake__echo" not in {t.name for t in (await session.list_tools()).tools}
        off = await session.call_tool("fake__echo", {"text": "hello"})
    assert off.is_error and "unknown tool" in text_of(off)
