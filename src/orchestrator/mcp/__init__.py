"""MCP servers as tools: the client side of the Model Context Protocol.

Admins register servers (stdio, run inside the command sandbox, or streamable HTTP,
through the SSRF guard); a refresh lists their tools, which join the registry as
`SERVER__TOOL` with the server's risk class and go through the same tool gate as the
built-ins. Each user's calls run on their own connection with their own credentials
(encrypted at rest). The official `mcp` SDK is imported only once a server is used.

    client = McpClient(settings, sessions)
    tools = await client.tools()          # registry tools of the enabled servers
    await client.close()                  # stops every server this process started
"""

from orchestrator.mcp._client import McpClient
from orchestrator.mcp._models import (
    MASK,
    McpCredentialsIn,
    McpCredentialsOut,
    McpLimits,
    McpRefreshOut,
    McpServerIn,
    McpServerOut,
    McpServerUpdate,
    SkippedTool,
)
from orchestrator.mcp._secrets import SecretBox, SecretUnreadable
from orchestrator.mcp._tools import McpTool

__all__ = [
    "MASK",
    "McpClient",
    "McpCredentialsIn",
    "McpCredentialsOut",
    "McpLimits",
    "McpRefreshOut",
    "McpServerIn",
    "McpServerOut",
    "McpServerUpdate",
    "McpTool",
    "SecretBox",
    "SecretUnreadable",
    "SkippedTool",
]
