"""The HTTP tool, behind the SSRF guard."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from orchestrator.tools.base import Risk, ToolContext, tool
from orchestrator.tools.netguard import SafeHttpClient

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@tool(category="web", risk=Risk.NETWORK)
async def http_request(
    ctx: ToolContext,
    url: Annotated[
        str,
        Field(min_length=1, max_length=2048, description="An http:// or https:// URL"),
    ],
    method: Annotated[Method, Field(description="HTTP method")] = "GET",
    headers: Annotated[
        dict[str, Annotated[str, Field(max_length=1000)]] | None,
        Field(max_length=20, description="Extra request headers, name to value"),
    ] = None,
    body: Annotated[
        str | None,
        Field(max_length=100_000, description="Request body, sent as UTF-8 text"),
    ] = None,
) -> dict[str, Any]:
    """Send an HTTP request to a public web address and return status, headers and body."""
    client = SafeHttpClient.from_settings(ctx.settings)
    response = await client.request(method, url, headers=headers, body=body)
    return response.model_dump(mode="json")
