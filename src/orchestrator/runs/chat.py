"""A chat turn: the conversation so far goes to the agent, its events to the run log,
and its answer into the conversation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.agents import AgentSpec
from orchestrator.core.config import Settings
from orchestrator.core.errors import OrchestratorError
from orchestrator.db.models import Conversation, Message, Run
from orchestrator.engine.events import ErrorData, StatusData, TokenData, ToolData
from orchestrator.engine.react import Final, Limits, ModelClient, ReactEngine
from orchestrator.llm.base import ChatMessage
from orchestrator.runs.approvals import ApprovalBroker
from orchestrator.runs.log import RunEventLog, RunWriter
from orchestrator.runs.processor import Outcome, set_run_status
from orchestrator.runs.tool_gate import ToolGate
from orchestrator.services.conversations import add_message
from orchestrator.tools.base import ToolContext
from orchestrator.tools.registry import ToolRegistry

STOP_MESSAGES = {
    "max_iterations": "the agent reached its limit of {n} steps without a final answer",
    "time_budget": "the agent ran out of time",
    "token_budget": "the agent used up its token budget",
}


def workspace_for(settings: Settings, user_id: int) -> Path:
    """The user's private workspace directory (created 0700)."""
    path = settings.workspaces_dir / str(user_id)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


@dataclass
class AgentTurn:
    """Everything a run needs to run an agent turn with tools."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    models: ModelClient
    tools: ToolRegistry
    broker: ApprovalBroker
    event_log: RunEventLog
    disabled_tools: Callable[[], Awaitable[frozenset[str]]]

    async def run(
        self,
        run: Run,
        writer: RunWriter,
        agent: AgentSpec,
        messages: list[ChatMessage],
        *,
        key_prefix: str = "",
    ) -> tuple[Final | None, str, ErrorData | None]:
        """Stream one agent turn into the log: (final, text so far, error)."""
        context = ToolContext(
            user_id=run.user_id,
            workspace=await asyncio.to_thread(workspace_for, self.settings, run.user_id),
            settings=self.settings,
            run_id=run.id,
        )
        gate = ToolGate(
            registry=self.tools,
            sessions=self.sessions,
            broker=self.broker,
            context=context,
            approval_risks=frozenset(self.settings.approval_risks),
            approval_timeout=self.settings.approval_timeout,
            allowed=frozenset(agent.tools) if agent.tools is not None else None,
            disabled=await self.disabled_tools(),
        )
        engine = ReactEngine(self.models, gate)
        limits = Limits(
            max_iterations=agent.max_iterations or self.settings.max_iterations,
            max_seconds=self.settings.turn_seconds,
        )
        system = ChatMessage(role="system", content=agent.system_prompt)
        text: list[str] = []
        try:
            async for event in engine.run(
                [system, *messages],
                model=run.model or agent.model,
                tools=[t.spec() for t in gate.available()],
                limits=limits,
                key_prefix=key_prefix,
            ):
                if isinstance(event, Final):
                    return event, event.content, self._stop_error(event, limits)
                if isinstance(event, ToolData) and event.replayed:
                    continue
                if isinstance(event, StatusData):
                    await set_run_status(self.event_log, run.id, event.status)
                if isinstance(event, TokenData):
                    text.append(event.text)
                await writer.emit(event)
        except OrchestratorError as exc:
            return None, "".join(text), ErrorData(message=exc.message, code=exc.code)
        raise AssertionError("the engine ended without a Final event")

    @staticmethod
    def _stop_error(final: Final, limits: Limits) -> ErrorData | None:
        if final.stop_reason == "answer":
            return None
        message = STOP_MESSAGES[final.stop_reason].format(n=limits.max_iterations)
        return ErrorData(message=message, code=final.stop_reason)


@dataclass
class ChatTurn:
    """The `chat` kind of run."""

    turn: AgentTurn
    agents: Callable[[str], Awaitable[AgentSpec]]

    async def __call__(self, run: Run, writer: RunWriter) -> Outcome:
        agent = await self.agents(run.agent)
        history = await self._history(run)
        final, text, error = await self.turn.run(run, writer, agent, history)
        tools_used = final.tools_used if final else []
        message_id = await self._answer(run, final.content if final else text, tools_used)
        status = "succeeded" if error is None else "failed"
        content = final.content if final else text
        return Outcome(status, content, tools_used, message_id, error)

    async def _history(self, run: Run) -> list[ChatMessage]:
        """The conversation's latest messages that fit the context budget, oldest first."""
        budget = self.turn.settings.context_chars
        picked: list[ChatMessage] = []
        async with self.turn.sessions() as db:
            rows = await db.scalars(
                select(Message)
                .where(Message.conversation_id == run.conversation_id)
                .order_by(Message.id.desc())
                .limit(200)
            )
            for row in rows:
                if row.role not in {"user", "assistant"} or not row.content:
                    continue
                budget -= len(row.content)
                if budget < 0 and picked:
                    break
                picked.append(ChatMessage(role=row.role, content=row.content))  # type: ignore[arg-type]
        return picked[::-1] or [ChatMessage(role="user", content=run.goal)]

    async def _answer(self, run: Run, content: str, tools_used: list[str]) -> int | None:
        """Store the assistant's answer (even a partial one) in the conversation."""
        if not content and not tools_used:
            return None
        async with self.turn.sessions() as db:
            conversation = await db.get(Conversation, run.conversation_id)
            if conversation is None:  # deleted while the run went on
                return None
            message = await add_message(
                db, conversation, "assistant", content, tools_used=tools_used, run_id=run.id
            )
            return message.id


@dataclass
class TaskRun:
    """The `task` kind of run: one agent turn towards the goal, outside any conversation."""

    turn: AgentTurn
    agents: Callable[[str], Awaitable[AgentSpec]]

    async def __call__(self, run: Run, writer: RunWriter) -> Outcome:
        agent = await self.agents(run.agent)
        goal = [ChatMessage(role="user", content=run.goal)]
        final, text, error = await self.turn.run(run, writer, agent, goal)
        tools_used = final.tools_used if final else []
        return Outcome("succeeded" if error is None else "failed", text, tools_used, None, error)
