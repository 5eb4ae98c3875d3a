"""The shell tool: one command in the workspace, inside the sandbox."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from orchestrator.tools.base import Risk, ToolContext, tool
from orchestrator.tools.sandbox import SandboxedCommandRunner


@tool(category="system", risk=Risk.EXEC)
async def execute_command(
    ctx: ToolContext,
    command: Annotated[
        str,
        Field(
            min_length=1,
            max_length=10_000,
            description="Shell command, run by /bin/sh -c in the workspace (no network)",
        ),
    ],
    timeout: Annotated[  # noqa: ASYNC109 - the tool's documented parameter
        float | None,
        Field(gt=0, le=3600, description="Seconds before it is stopped; capped by the server"),
    ] = None,
) -> dict[str, Any]:
    """Run a shell command in the workspace and return its exit code and output."""
    runner = SandboxedCommandRunner(ctx.settings)
    result = await runner.run(command, ctx.workspace, timeout=timeout, on_output=ctx.on_output)
    return result.model_dump(mode="json")
