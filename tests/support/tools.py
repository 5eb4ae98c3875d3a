"""Small tools for engine and run tests: exact results, a slow one, a risky one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from pydantic import Field

from orchestrator.tools import Risk, ToolContext, ToolRegistry, tool
from orchestrator.tools.delegation import delegate

CALLS: list[str] = []  # names of the tools that really ran, in order


@tool(category="test", risk=Risk.SAFE)
async def add(ctx: ToolContext, a: int, b: int) -> str:
    """Add two integers."""
    CALLS.append("add")
    return str(a + b)


@tool(category="test", risk=Risk.SAFE)
async def slow(ctx: ToolContext, seconds: Annotated[float, Field(ge=0, le=60)]) -> str:
    """Wait, then say so."""
    CALLS.append("slow")
    await asyncio.sleep(seconds)
    return f"waited {seconds} s"


@tool(category="test", risk=Risk.EXEC)
async def danger(ctx: ToolContext, note: Annotated[str, Field(max_length=100)]) -> str:
    """A risky action: writes a marker file in the workspace."""
    CALLS.append("danger")
    Path(ctx.workspace, "danger.txt").write_text(note)
    return "done"


@tool(category="test", risk=Risk.SAFE)
async def boom(ctx: ToolContext) -> str:
    """Always crashes."""
    CALLS.append("boom")
    raise RuntimeError("kaboom")


def sample_tools() -> ToolRegistry:
    CALLS.clear()
    return ToolRegistry([add, slow, danger, boom, delegate])
