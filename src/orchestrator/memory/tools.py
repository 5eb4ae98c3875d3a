"""The agent's memory tools, registered through the `orchestrator.tools` entry point
`memory`; they reach only the calling user's memories (`ToolContext.memory`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from orchestrator.core.errors import NotFound, ToolError
from orchestrator.memory._store import MAX_CONTENT, MAX_QUERY, MAX_TAG, MAX_TAGS
from orchestrator.memory._user import UserMemory
from orchestrator.tools.base import Risk, Tool, ToolContext, tool
from orchestrator.tools.registry import ToolRegistry

Tag = Annotated[str, Field(min_length=1, max_length=MAX_TAG)]


def _memory(ctx: ToolContext) -> UserMemory:
    if ctx.memory is None:
        raise ToolError("memory is not available here")
    return ctx.memory


@tool(category="memory", risk=Risk.WRITE)
async def remember(
    ctx: ToolContext,
    content: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_CONTENT,
            description="The fact to keep, written so it makes sense on its own later",
        ),
    ],
    tags: Annotated[
        list[Tag] | None,
        Field(max_length=MAX_TAGS, description="Short labels, e.g. ['preferences']"),
    ] = None,
) -> str:
    """Keep a fact about the user or their work for later conversations."""
    memory = await _memory(ctx).remember(content.strip(), tags or [])
    return f"remembered (id {memory.id})"


@tool(category="memory", risk=Risk.READ)
async def recall(
    ctx: ToolContext,
    query: Annotated[
        str,
        Field(min_length=1, max_length=MAX_QUERY, description="What to look for, in words"),
    ],
    limit: Annotated[int, Field(ge=1, le=20, description="How many memories at most")] = 5,
) -> list[dict[str, Any]]:
    """Find the user's memories closest in meaning to a query, best first."""
    found = await _memory(ctx).recall(query, limit)
    return [
        {
            "id": item.memory.id,
            "content": item.memory.content,
            "tags": item.memory.tags,
            "score": round(item.score, 3),
        }
        for item in found
    ]


@tool(category="memory", risk=Risk.WRITE)
async def forget(
    ctx: ToolContext,
    id: Annotated[  # shadows the builtin, but it is the name the model sees
        str, Field(min_length=1, max_length=64, description="The id of the memory to delete")
    ],
) -> str:
    """Delete one of the user's memories by its id."""
    try:
        await _memory(ctx).forget(id)
    except NotFound:
        raise ToolError(f"no memory with id {id!r}") from None
    return f"forgot {id}"


MEMORY_TOOLS: tuple[Tool, ...] = (remember, recall, forget)


def register(registry: ToolRegistry) -> None:
    """Add the memory tools (the `orchestrator.tools` entry point `memory`)."""
    for item in MEMORY_TOOLS:
        registry.register(item)


__all__ = ["MEMORY_TOOLS", "forget", "recall", "register", "remember"]
