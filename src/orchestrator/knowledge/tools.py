"""The agent's `search_knowledge` tool, registered through the `orchestrator.tools` entry
point `knowledge`; it reaches only the calling user's collections (`ToolContext.knowledge`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from orchestrator.core.errors import ToolError
from orchestrator.knowledge._store import MAX_QUERY
from orchestrator.tools.base import Risk, Tool, ToolContext, tool
from orchestrator.tools.registry import ToolRegistry


@tool(category="knowledge", risk=Risk.READ, untrusted=True)
async def search_knowledge(
    ctx: ToolContext,
    query: Annotated[
        str,
        Field(min_length=1, max_length=MAX_QUERY, description="What to look for, in words"),
    ],
    collection: Annotated[
        str | None,
        Field(max_length=64, description="A collection id to search (default: every one in scope)"),
    ] = None,
    limit: Annotated[int, Field(ge=1, le=20, description="How many passages at most")] = 5,
) -> dict[str, Any]:
    """Search the user's documents (knowledge bases); passages come numbered: cite them as [n]."""
    if ctx.knowledge is None:
        raise ToolError("knowledge bases are not available here")
    return await ctx.knowledge.search(query, collection, limit)


KNOWLEDGE_TOOLS: tuple[Tool, ...] = (search_knowledge,)


def register(registry: ToolRegistry) -> None:
    """Add the knowledge tools (the `orchestrator.tools` entry point `knowledge`)."""
    for item in KNOWLEDGE_TOOLS:
        registry.register(item)


__all__ = ["KNOWLEDGE_TOOLS", "register", "search_knowledge"]
