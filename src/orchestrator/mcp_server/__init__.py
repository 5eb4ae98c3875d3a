"""The MCP server at `/mcp` (streamable HTTP, the official SDK's server side).

Each request is authenticated by its bearer key and acts as that key's owner: it lists
the owner's enabled tools and every agent as `agent_NAME {task}`, and carries out each
call as one of the owner's runs (a `tool` run for a tool, a `task` run for an agent), so
that approvals, audit and stats apply and a risky call waits in the web app. The SDK is
imported on the first request, never at start-up.
"""

from __future__ import annotations

from orchestrator.mcp_server._endpoint import McpEndpoint

__all__ = ["McpEndpoint"]
