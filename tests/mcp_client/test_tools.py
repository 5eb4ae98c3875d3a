"""An MCP tool in the registry: the server's schema checks arguments, and its results
count as untrusted content (they taint the run)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core.errors import ToolArgumentError
from orchestrator.mcp._tools import make_tool
from orchestrator.tools.base import ToolContext


async def _invoke(ctx: ToolContext, arguments: dict[str, Any]) -> str:
    return "ok"


def test_mcp_tools_are_untrusted_and_checked_against_the_servers_schema() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    tool = make_tool(
        name="srv__count",
        description="",
        risk="read",
        schema=schema,
        server_id="id",
        server_name="srv",
        remote_name="count",
        invoke=_invoke,
    )
    assert tool.untrusted and tool.parameters == schema
    assert tool.source_of({"n": 1}) == "the MCP server srv"
    assert tool.source_of({"url": "https://x.org"}) == "https://x.org"
    assert tool.validate({"n": 3}) == {"n": 3}
    with pytest.raises(ToolArgumentError, match="n"):
        tool.validate({"n": "three"})
    with pytest.raises(ToolArgumentError, match="required"):
        tool.validate({})
