"""Sample tools and helpers for tests that talk to models."""

from __future__ import annotations

from collections.abc import AsyncIterable

from orchestrator.llm.base import ChatMessage, StreamChunk, TextDelta, ToolSpec

CALCULATE = ToolSpec(
    name="calculate",
    description="Evaluate an arithmetic expression.",
    parameters={
        "type": "object",
        "properties": {"expression": {"type": "string", "description": "for example 2+2"}},
        "required": ["expression"],
    },
)
GET_DATETIME = ToolSpec(
    name="get_datetime",
    description="The current date and time.",
    parameters={
        "type": "object",
        "properties": {"timezone": {"type": "string", "description": "IANA name"}},
    },
)


def user(text: str) -> list[ChatMessage]:
    """A one-message conversation."""
    return [ChatMessage(role="user", content=text)]


async def collect(stream: AsyncIterable[StreamChunk]) -> list[StreamChunk]:
    """Every chunk of a stream."""
    return [chunk async for chunk in stream]


def text_of(chunks: list[StreamChunk]) -> str:
    """The concatenated text deltas."""
    return "".join(c.text for c in chunks if isinstance(c, TextDelta))
