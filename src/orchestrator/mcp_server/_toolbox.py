"""What the MCP server offers a user, independent of the SDK: their enabled tools and
every agent as `agent_NAME {task}`, each call carried out as a run so that approvals,
audit, stats, quotas and the run log apply as they do in the web app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.agents import AgentSpec
from orchestrator.core.errors import OrchestratorError
from orchestrator.db.models import Run, User
from orchestrator.engine.events import CompleteEvent, ErrorEvent
from orchestrator.runs.tool_call import tool_goal
from orchestrator.runtime import Runtime
from orchestrator.services import tool_stats
from orchestrator.tools import ToolRegistry

AGENT_TOOL_PREFIX = "agent_"
MAX_TASK_CHARS = 100_000
_TASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task": {
            "type": "string",
            "description": "What the agent should do, in plain words",
            "minLength": 1,
            "maxLength": MAX_TASK_CHARS,
        }
    },
    "required": ["task"],
}


@dataclass(frozen=True)
class OfferedTool:
    """A tool as an MCP client sees it."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class CallResult:
    """A call's answer: text, and whether it is an error the caller's model should see."""

    text: str
    is_error: bool
    run_id: str | None = None


class McpToolbox:
    """Lists and calls tools for one user at a time."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def tools(self, user: User) -> list[OfferedTool]:
        """The user's enabled tools, built-in and of the admin's MCP servers (none refused
        to their role), then one tool per agent."""
        registry = await self.runtime.tool_registry()
        hidden = await self._hidden_tools(user, registry)
        offered = [
            OfferedTool(tool.name, tool.description, tool.parameters)
            for tool in registry
            if tool.name not in hidden
        ]
        for agent in await self.runtime.agents.list():
            offered.append(
                OfferedTool(
                    f"{AGENT_TOOL_PREFIX}{agent.name}",
                    f"Give a task to the {agent.name} agent: {agent.description}",
                    _TASK_SCHEMA,
                )
            )
        return offered

    async def call(self, user: User, name: str, arguments: dict[str, Any]) -> CallResult:
        """Run the tool or the agent as one of the user's runs and wait for its end."""
        try:
            registry = await self.runtime.tool_registry()
            agent = await self._agent(name, registry)
            if agent is not None:
                run = await self._start_agent(user, agent, arguments)
            else:
                run = await self._start_tool(user, name, arguments, registry)
        except OrchestratorError as exc:
            return CallResult(exc.message, True)
        return await self._outcome(run)

    async def _agent(self, name: str, registry: ToolRegistry) -> AgentSpec | None:
        if not name.startswith(AGENT_TOOL_PREFIX) or name in registry:
            return None
        wanted = name.removeprefix(AGENT_TOOL_PREFIX)
        return next((a for a in await self.runtime.agents.list() if a.name == wanted), None)

    async def _start_agent(self, user: User, agent: AgentSpec, arguments: dict[str, Any]) -> Run:
        task = arguments.get("task")
        if not isinstance(task, str) or not task.strip() or len(task) > MAX_TASK_CHARS:
            raise _Refused(f"`task` must be a non-empty string of at most {MAX_TASK_CHARS} chars")
        return await self.runtime.runs.start_run(user.id, task, agent=agent.name)

    async def _start_tool(
        self, user: User, name: str, arguments: dict[str, Any], registry: ToolRegistry
    ) -> Run:
        if name not in registry or name in await self._hidden_tools(user, registry):
            raise _Refused(f"unknown tool {name!r}")
        return await self.runtime.runs.start_tool_call(user.id, tool_goal(name, arguments))

    async def _outcome(self, run: Run) -> CallResult:
        error: str | None = None
        async for event in self.runtime.runs.follow(run.id):
            if isinstance(event, ErrorEvent):
                error = event.data.message
            if isinstance(event, CompleteEvent):
                content = event.data.content
                if event.data.status == "succeeded":
                    return CallResult(content, False, run.id)
                why = error or f"the run ended {event.data.status}"
                return CallResult(content or why, True, run.id)
        raise AssertionError("a run's log always ends with complete")

    async def _hidden_tools(self, user: User, registry: ToolRegistry) -> frozenset[str]:
        """Tools the admin switched off, and those whose risk the user's role is refused."""
        async with self.runtime.sessions() as db:
            disabled = set(await tool_stats.disabled_tools(db))
        settings = self.runtime.settings
        refused = set() if user.role == "admin" else set(settings.user_refused_risks)
        return frozenset(disabled | {t.name for t in registry if t.risk.value in refused})


class _Refused(OrchestratorError):
    """A call the server will not start (the caller's model sees why)."""

    code = "mcp_refused"
