"""The official MCP SDK's server side over `McpToolbox`; imported only when `/mcp` is
first used, so that a process nobody reaches over MCP never loads the SDK."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from mcp import types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from orchestrator.db.models import User
from orchestrator.mcp_server._toolbox import McpToolbox

SERVER_NAME = "ai-orchestrator"


def build_session_manager(
    toolbox: McpToolbox, current_user: ContextVar[User]
) -> StreamableHTTPSessionManager:
    """A stateless streamable-HTTP manager whose handlers act for `current_user`: every
    request carries its own key, so nothing ties a session to a process or a user."""

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        offered = await toolbox.tools(current_user.get())
        return types.ListToolsResult(
            tools=[
                types.Tool(name=t.name, description=t.description, input_schema=t.input_schema)
                for t in offered
            ]
        )

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        result = await toolbox.call(current_user.get(), params.name, dict(params.arguments or {}))
        meta = {"run_id": result.run_id} if result.run_id else None
        return types.CallToolResult(
            content=[types.TextContent(text=result.text)],
            is_error=result.is_error,
            _meta=meta,
        )

    server: Server[Any] = Server(SERVER_NAME, on_list_tools=list_tools, on_call_tool=call_tool)
    return StreamableHTTPSessionManager(server, stateless=True)
