"""`delegate`: an agent hands a sub-task to another agent, which runs as a nested run."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from orchestrator.core.errors import ToolError
from orchestrator.tools.base import Risk, ToolContext, tool
from orchestrator.tools.registry import ToolRegistry


@tool(category="agents", risk=Risk.SAFE)
async def delegate(
    ctx: ToolContext,
    agent: Annotated[str, Field(max_length=64, description="Name of the agent to ask")],
    task: Annotated[str, Field(max_length=4000, description="The sub-task, self-contained")],
) -> str:
    """Ask another agent to carry out a self-contained sub-task and return its answer.

    The other agent's own tool calls go through the same approvals."""
    if ctx.delegate is None:
        raise ToolError("delegation is not available here")
    return await ctx.delegate(agent, task)


def register(registry: ToolRegistry) -> None:
    registry.register(delegate)
