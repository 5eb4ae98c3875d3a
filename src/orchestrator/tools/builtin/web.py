"""The HTTP tool, behind the SSRF guard."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from pydantic import Field

from orchestrator.core.errors import ToolError
from orchestrator.tools.base import Risk, ToolContext, tool
from orchestrator.tools.builtin._readable import readable_text
from orchestrator.tools.netguard import AddressPolicy, SafeHttpClient

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@tool(category="web", risk=Risk.NETWORK, untrusted=True)
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


MAX_PAGE_BYTES = 5 * 1024 * 1024


@tool(category="web", risk=Risk.NETWORK, untrusted=True)
async def web_read(
    ctx: ToolContext,
    url: Annotated[
        str, Field(min_length=1, max_length=2048, description="An http:// or https:// URL")
    ],
    max_chars: Annotated[
        int, Field(ge=500, le=100_000, description="At most this many characters")
    ] = 20_000,
) -> str:
    """Read a web page's main text as Markdown (title first), or a PDF's text."""
    client = SafeHttpClient(
        policy=AddressPolicy(ctx.settings.http_allowlist), max_body_bytes=MAX_PAGE_BYTES
    )
    response = await client.request("GET", url, headers={"Accept": "text/html,application/pdf,*/*"})
    if response.status >= 400:
        raise ToolError(f"{url} answered {response.status} {response.reason}")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    text = await asyncio.to_thread(readable_text, response.raw, content_type, response.url)
    if len(text) > max_chars:
        text = text[:max_chars] + f"\n\n[truncated at {max_chars} characters]"
    return text
