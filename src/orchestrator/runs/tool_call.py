"""The `tool` kind of run: one tool call a program asked for by name (the MCP server's
callers), under the same gate as an agent's calls - allowlist, admin switch, approvals,
audit and stats - so that a risky call waits for its user like any other."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from orchestrator.core.errors import InvalidInput
from orchestrator.db.models import Run
from orchestrator.engine.events import ErrorData, StatusData, ToolData
from orchestrator.llm.base import ToolCall
from orchestrator.runs.chat import AgentTurn
from orchestrator.runs.log import RunChanges, RunWriter
from orchestrator.runs.processor import Outcome


def tool_goal(name: str, arguments: dict[str, Any]) -> str:
    """A tool run's goal: the tool's name, a space, its arguments as JSON (readable as is)."""
    return f"{name} {json.dumps(arguments, ensure_ascii=False, sort_keys=True)}"


def parse_tool_goal(goal: str) -> tuple[str, dict[str, Any]]:
    """The tool name and arguments a `tool_goal` holds; `InvalidInput` otherwise."""
    name, _, raw = goal.partition(" ")
    try:
        arguments = json.loads(raw or "{}")
    except ValueError:
        arguments = None
    if not name or not isinstance(arguments, dict):
        raise InvalidInput("a tool run's goal is `NAME {json arguments}`")
    return name, arguments


@dataclass
class ToolCallRun:
    """Runs the one call its goal names and ends with the call's result."""

    turn: AgentTurn

    async def __call__(self, run: Run, writer: RunWriter) -> Outcome:
        name, arguments = parse_tool_goal(run.goal)
        gate = await self.turn.gate(run, None, self.turn.user_memory(run))
        call = ToolCall(id=f"call_{run.id[:8]}", name=name, arguments=arguments)
        final: ToolData | None = None
        async for event in gate.run(call, "c0"):
            if isinstance(event, StatusData):  # the run's row and its log, in one write
                await writer.emit(event, RunChanges(status=event.status))
                continue
            if isinstance(event, ToolData) and event.status != "started":
                final = event
                if event.replayed:  # finished before a restart: its events are logged
                    continue
            await writer.emit(event)
        assert final is not None, "the tool gate always ends with the call's outcome"
        result = final.result or ""
        if final.status == "finished":
            return Outcome("succeeded", result, [name])
        return Outcome(
            "failed", result, error=ErrorData(message=result, code=f"tool_{final.status}")
        )
