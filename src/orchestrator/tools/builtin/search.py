"""web_search: a self-hosted SearXNG or DuckDuckGo; answers title, URL and snippet.

SearXNG's own host is an admin's choice (SEARCH_URL), so it is reachable even on a
private or loopback address; the result URLs are only listed, never fetched here.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import httpx
from pydantic import BaseModel, Field

from orchestrator.core.config import Settings
from orchestrator.core.errors import ToolError
from orchestrator.tools.base import Risk, ToolContext, tool
from orchestrator.tools.netguard import AddressPolicy, SafeHttpClient

MAX_SNIPPET = 400


class SearchHit(BaseModel):
    """One result."""

    title: str
    url: str
    snippet: str


def _hit(title: object, url: object, snippet: object) -> SearchHit | None:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    return SearchHit(
        title=str(title or url)[:200], url=url[:2048], snippet=str(snippet or "")[:MAX_SNIPPET]
    )


async def _searxng(settings: Settings, query: str, limit: int) -> list[SearchHit]:
    if not settings.search_url:
        raise ToolError("web search is not configured: SEARCH_PROVIDER=searxng needs SEARCH_URL")
    base = httpx.URL(settings.search_url)
    host = base.host
    client = SafeHttpClient(
        policy=AddressPolicy([*settings.http_allowlist, host]), max_body_bytes=2 * 1024 * 1024
    )
    url = base.join("search").copy_merge_params({"q": query, "format": "json"})
    response = await client.request("GET", str(url), headers={"Accept": "application/json"})
    if response.status != 200:
        raise ToolError(f"the search service answered {response.status} {response.reason}")
    try:
        payload = json.loads(response.body)
    except json.JSONDecodeError:
        raise ToolError(
            "the search service did not answer JSON (is format=json enabled?)"
        ) from None
    results = payload.get("results") if isinstance(payload, dict) else None
    if not isinstance(results, list):
        raise ToolError("the search service's answer has no 'results' list")
    hits = [
        hit
        for item in results
        if isinstance(item, dict)
        and (hit := _hit(item.get("title"), item.get("url"), item.get("content")))
    ]
    return hits[:limit]


def _duckduckgo(query: str, limit: int) -> list[SearchHit]:
    from ddgs import DDGS
    from ddgs.exceptions import DDGSException

    try:
        results = DDGS(timeout=15).text(query, max_results=limit, backend="duckduckgo")
    except DDGSException as exc:
        raise ToolError(f"DuckDuckGo search failed: {exc}") from None
    hits = [hit for r in results if (hit := _hit(r.get("title"), r.get("href"), r.get("body")))]
    return hits[:limit]


@tool(category="web", risk=Risk.NETWORK, untrusted=True)
async def web_search(
    ctx: ToolContext,
    query: Annotated[str, Field(min_length=1, max_length=500, description="What to search for")],
    limit: Annotated[int, Field(ge=1, le=10, description="How many results")] = 5,
) -> dict[str, Any]:
    """Search the web; answers each result's title, URL and snippet (read one with web_read)."""
    provider = ctx.settings.search_provider
    if provider is None:
        raise ToolError(
            "web search is not configured on this server (an admin sets SEARCH_PROVIDER="
            "searxng with SEARCH_URL, or duckduckgo); use http_request or web_read instead"
        )
    if provider == "searxng":
        hits = await _searxng(ctx.settings, query, limit)
    else:
        hits = await asyncio.to_thread(_duckduckgo, query, limit)
    return {"query": query, "results": [h.model_dump() for h in hits]}


SEARCH_TOOLS = (web_search,)
