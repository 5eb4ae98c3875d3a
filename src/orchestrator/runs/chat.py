"""A chat turn: the conversation so far goes to the agent, its events to the run log,
and its answer into the conversation."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.agents import AgentSpec
from orchestrator.changes import ChangeRecorder, Snapshots
from orchestrator.core.config import Settings
from orchestrator.core.errors import OrchestratorError
from orchestrator.db.models import Conversation, Message, Run, User, UserQuota
from orchestrator.db.session import engine_of, fetch, transact
from orchestrator.engine.events import ErrorData, StatusData, TokenData, ToolData, Usage
from orchestrator.engine.react import MAX_INVALID_STEPS, Final, Limits, ModelClient, ReactEngine
from orchestrator.engine.retrieval import ToolRetriever
from orchestrator.knowledge import PROMPT_SECTION, KnowledgeBase, TurnKnowledge, collection_scope
from orchestrator.language import language_instruction
from orchestrator.llm.base import ChatMessage
from orchestrator.memory import MemoryStore, UserMemory
from orchestrator.observability import Tracing
from orchestrator.runs.approvals import ApprovalBroker
from orchestrator.runs.attachments import attached_paths, load_images
from orchestrator.runs.delegation import Delegator
from orchestrator.runs.log import RunChanges, RunWriter
from orchestrator.runs.processor import Outcome
from orchestrator.runs.tool_gate import ToolGate
from orchestrator.services.conversations import APPEND, Answer, add_answer, add_message
from orchestrator.tools.base import Tool, ToolContext
from orchestrator.tools.registry import ToolRegistry
from orchestrator.tools.workspace import Workspace
from orchestrator.usage import MeteredModels, Quotas

log = logging.getLogger(__name__)

# Built once: every chat turn reads its conversation's messages (building a statement cost
# more of the event loop's time than running it).
_MESSAGES = select(
    Message.id, Message.parent_id, Message.role, Message.content, Message.run_id
).where(Message.conversation_id == bindparam("conversation_id"))

_OWNER = (
    select(User.role, User.language, UserQuota.tokens_per_day)
    .outerjoin(UserQuota, UserQuota.user_id == User.id)
    .where(User.id == bindparam("user_id"))
)

STOP_MESSAGES = {
    "max_iterations": "the agent reached its limit of {n} steps without a final answer",
    "time_budget": "the agent ran out of time",
    "token_budget": "the agent used up its token budget",
    "invalid_tool_calls": (
        "the model wrote {k} tool calls in a row that could not be used (last: {detail}); "
        "try another model, or set this model's native_tools on the Models page"
    ),
}


@dataclass
class TurnResult:
    """What one agent turn produced."""

    content: str  # the answer, or what was said before an error
    error: ErrorData | None
    calls: list[ToolData]  # each tool call's final state, in order
    usage: Usage | None = None  # tokens in and out (None: the turn ended in an error)
    citations: list[dict[str, object]] = field(default_factory=list)  # passages cited as [n]

    @property
    def tools_used(self) -> list[str]:
        return [c.name for c in self.calls if c.status == "finished"]

    def call_records(self) -> list[dict[str, object]]:
        """The calls as stored with the assistant's message."""
        return [c.model_dump(mode="json") for c in self.calls]


@dataclass(frozen=True)
class RunOwner:
    """What a turn needs to know of the user it runs for, read in one query."""

    role: str
    language: str | None  # chosen in the web app (None: the browser's)
    tokens_per_day: int | None  # the admin's own token quota for them, if set


@dataclass
class AgentTurn:
    """Everything a run needs to run an agent turn with tools."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    models: ModelClient
    tools: ToolRegistry
    broker: ApprovalBroker
    disabled_tools: Callable[[], Awaitable[frozenset[str]]]
    delegator: Delegator | None = None
    memory: MemoryStore | None = None
    extra_tools: Callable[[], Awaitable[list[Tool]]] | None = None  # MCP servers' tools
    snapshots: Snapshots | None = None  # workspace change recording; None: not recorded
    knowledge: KnowledgeBase | None = None
    retriever: ToolRetriever | None = None  # many tools: offer the nearest (engine.retrieval)
    quotas: Quotas | None = None  # the daily token quota, checked after each model call
    accounting: bool = True  # USAGE_ACCOUNTING: each model call becomes a `usage` event
    tracing: Tracing | None = None  # spans per model call and tool call

    async def metered(
        self,
        run: Run,
        writer: RunWriter,
        models: ModelClient | None = None,
        owner: RunOwner | None = None,
    ) -> ModelClient:
        """The model client (`models`, else the turn's) for the run's calls: accounted,
        quota-checked and traced."""
        models = models or self.models
        if not self.accounting:
            return models
        limit = None
        if self.quotas is not None:
            owner = owner or await self.owner(run.user_id)
            limit = self.quotas.tokens_per_day(owner.role, owner.tokens_per_day)
        return MeteredModels(
            models,
            writer.emit,
            user_id=run.user_id,
            quotas=self.quotas,
            token_limit=limit,
            spans=self.tracing,
            settle=writer.flush,
        )

    async def run(
        self,
        run: Run,
        writer: RunWriter,
        agent: AgentSpec,
        messages: list[ChatMessage],
        *,
        key_prefix: str = "",
    ) -> TurnResult:
        """Stream one agent turn into the log."""
        user_memory = self.user_memory(run)
        scope = collection_scope(agent.knowledge, run.knowledge)
        knowledge = TurnKnowledge(self.knowledge, run.user_id, scope) if self.knowledge else None
        owner = await self.owner(run.user_id)
        allowed = self._allowed(agent.tools, scope)
        gate = await self.gate(run, allowed, user_memory, knowledge, owner)
        engine = ReactEngine(
            await self.metered(run, writer, owner=owner),
            gate,
            retriever=self.retriever,
            repair=True,
        )
        limits = Limits(
            max_iterations=agent.max_iterations or self.settings.max_iterations,
            max_seconds=self.settings.turn_seconds,
            max_tokens=self.settings.turn_max_tokens,
        )
        prompt = await self._system_prompt(agent.system_prompt, messages, user_memory)
        if knowledge is not None and any(t.name == "search_knowledge" for t in gate.available()):
            prompt = await self._knowledge_prompt(prompt, knowledge)
        prompt = f"{prompt}\n\n{language_instruction(owner.language)}"
        system = ChatMessage(role="system", content=prompt)
        text: list[str] = []
        calls: list[ToolData] = []
        tracing = self.tracing if self.tracing is not None and self.tracing.enabled else None
        spans: dict[str, Any] = {}  # tool call id -> its open span
        try:
            async for event in engine.run(
                [system, *messages],
                model=run.model or agent.model,
                tools=[t.spec() for t in gate.available()],
                limits=limits,
                key_prefix=key_prefix,
            ):
                if isinstance(event, Final):
                    cited = knowledge.citations(event.content) if knowledge else []
                    return TurnResult(
                        event.content,
                        self._stop_error(event, limits),
                        calls,
                        event.usage,
                        [c.model_dump() for c in cited],  # every field, as `complete` sends them
                    )
                if tracing is not None and isinstance(event, ToolData):
                    if event.status == "started":
                        spans[event.call_id] = tracing.tool_call(event.name, event.call_id)
                    else:
                        Tracing.end_tool(
                            spans.pop(event.call_id, None), event.status, event.duration_ms
                        )
                if isinstance(event, ToolData) and event.status != "started":
                    calls.append(event)
                    if knowledge and event.replayed and event.name == "search_knowledge":
                        knowledge.observe(event.result)  # numbered before a restart
                if isinstance(event, ToolData) and event.replayed:
                    continue
                if isinstance(event, StatusData):  # the run's row and its log, in one write
                    await writer.emit(event, RunChanges(status=event.status))
                    continue
                if isinstance(event, TokenData):
                    text.append(event.text)
                await writer.emit(event)
        except OrchestratorError as exc:
            error = ErrorData(message=exc.message, code=exc.code)
            return TurnResult("".join(text), error, calls)
        raise AssertionError("the engine ended without a Final event")

    async def gate(
        self,
        run: Run,
        allowed: list[str] | None,
        user_memory: UserMemory | None,
        knowledge: TurnKnowledge | None = None,
        owner: RunOwner | None = None,
    ) -> ToolGate:
        """The tool gate for the run's calls: its user's workspace, policy and allowlist."""
        owner = owner or await self.owner(run.user_id)
        workspace = await asyncio.to_thread(Workspace.for_user, self.settings, run.user_id)
        context = ToolContext(
            user_id=run.user_id,
            workspace=workspace.root,
            settings=self.settings,
            run_id=run.id,
            delegate=functools.partial(self.delegator.delegate, run) if self.delegator else None,
            memory=user_memory,
            list_models=getattr(self.models, "list_models", None),
            knowledge=knowledge,
        )
        registry = self.tools
        if self.extra_tools is not None:  # the MCP servers' tools, as they are now
            registry = registry.extended(await self.extra_tools())
        return ToolGate(
            registry=registry,
            sessions=self.sessions,
            broker=self.broker,
            context=context,
            approval_risks=frozenset(self.settings.approval_risks),
            refused_risks=frozenset()
            if owner.role == "admin"
            else frozenset(self.settings.user_refused_risks),
            approval_timeout=self.settings.approval_timeout,
            allowed=frozenset(allowed) if allowed is not None else None,
            disabled=await self.disabled_tools(),
            recorder=ChangeRecorder(
                self.snapshots, self.sessions, workspace.root, run.user_id, run.id
            )
            if self.snapshots is not None
            else None,
        )

    @staticmethod
    def _allowed(tools: list[str] | None, scope: list[str] | None) -> list[str] | None:
        """The agent's allowlist; a turn given collections may always search them."""
        if tools is None or not scope:
            return tools
        return [*tools, "search_knowledge"]

    async def _knowledge_prompt(self, prompt: str, knowledge: TurnKnowledge) -> str:
        """Tell the model about the user's collections in scope and how to cite them."""
        try:
            shown = await knowledge.base.collection_names(knowledge.user_id, 20, knowledge.scope)
        except OrchestratorError as exc:
            log.warning("knowledge collections not listed: %s", exc.message)
            return prompt
        if not shown:
            return prompt
        names = "; ".join(f"{name} (id {collection_id})" for collection_id, name in shown)
        return f"{prompt}\n\n{PROMPT_SECTION} Collections: {names}."

    def user_memory(self, run: Run) -> UserMemory | None:
        """The run's user's memories; new ones note the conversation (or run) they came from."""
        if self.memory is None:
            return None
        source = f"conversation:{run.conversation_id}" if run.conversation_id else f"run:{run.id}"
        return UserMemory(self.memory, run.user_id, source)

    async def _system_prompt(
        self, prompt: str, messages: list[ChatMessage], memory: UserMemory | None
    ) -> str:
        """The agent's prompt, followed by the memories relevant to the latest user message."""
        if memory is None or not self.settings.memory_recall:
            return prompt
        latest = next((m.content for m in reversed(messages) if m.role == "user"), "")
        try:
            section = await memory.prompt_for(
                latest,
                limit=self.settings.memory_recall_limit,
                chars=self.settings.memory_recall_chars,
            )
        except OrchestratorError as exc:  # the turn goes on without them, and says why
            log.warning("no memories offered to run %s: %s", memory.source, exc.message)
            return prompt
        return f"{prompt}\n\n{section}" if section else prompt

    async def owner(self, user_id: int) -> RunOwner:
        """The run's user as a turn needs them: role (the approval policy), language and
        own token quota, in one query (a user since deleted counts as a plain user)."""
        rows = await fetch(self.sessions, _OWNER, {"user_id": user_id})
        row = rows[0] if rows else None
        if row is None:
            return RunOwner(role="user", language=None, tokens_per_day=None)
        return RunOwner(role=row.role, language=row.language, tokens_per_day=row.tokens_per_day)

    @staticmethod
    def _stop_error(final: Final, limits: Limits) -> ErrorData | None:
        if final.stop_reason == "answer":
            return None
        message = STOP_MESSAGES[final.stop_reason].format(
            n=limits.max_iterations, k=MAX_INVALID_STEPS, detail=final.detail[:300]
        )
        return ErrorData(message=message, code=final.stop_reason)


@dataclass
class ChatTurn:
    """The `chat` kind of run."""

    turn: AgentTurn
    agents: Callable[[str], Awaitable[AgentSpec]]

    async def __call__(self, run: Run, writer: RunWriter) -> Outcome:
        agent = await self.agents(run.agent)
        question, history = await self._history(run)
        result = await self.turn.run(run, writer, agent, history)
        message_id = await self._answer(run, result, question)
        status = "succeeded" if result.error is None else "failed"
        return Outcome(
            status,
            result.content,
            result.tools_used,
            message_id,
            result.error,
            result.usage,
            citations=result.citations,
        )

    async def _history(self, run: Run) -> tuple[int | None, list[ChatMessage]]:
        """The id of the run's question (the user's message it answers), and the branch
        that ends there (only that branch: the model never sees the other versions), its
        latest messages that fit the context budget. One read of the conversation's
        messages, as plain rows."""
        question: int | None = None
        branch: list[Row[Any]] = []
        if run.conversation_id is not None:
            rows = await fetch(
                self.turn.sessions, _MESSAGES, {"conversation_id": run.conversation_id}
            )
            messages = {row.id: row for row in rows}
            question = min(
                (r.id for r in rows if r.run_id == run.id and r.role == "user"), default=None
            )
            current = question
            while current is not None and current in messages and len(branch) < len(rows):
                branch.append(messages[current])  # the bound stops a cycle, as the tree does
                current = messages[current].parent_id
        budget = self.turn.settings.context_chars
        picked: list[ChatMessage] = []
        for row in branch:  # from the question up
            # "system": instructions an OpenAI-compatible client sent (`/v1`)
            if row.role not in {"user", "assistant", "system"} or not row.content:
                continue
            budget -= len(row.content)
            if budget < 0 and picked:
                break
            picked.append(ChatMessage(role=row.role, content=row.content))
        history = picked[::-1] or [ChatMessage(role="user", content=run.goal)]
        return question, await self._with_images(run, history)

    async def _with_images(self, run: Run, history: list[ChatMessage]) -> list[ChatMessage]:
        """The newest user message carries the images it attached (see `runs.attachments`)."""
        index = next(
            (i for i in range(len(history) - 1, -1, -1) if history[i].role == "user"), None
        )
        if index is None:
            return history
        paths = attached_paths(history[index].content)
        if not paths:
            return history
        workspace = await asyncio.to_thread(Workspace.for_user, self.turn.settings, run.user_id)
        images = await asyncio.to_thread(load_images, workspace, paths)
        if images:
            history[index] = history[index].model_copy(update={"images": images})
        return history

    async def _answer(self, run: Run, result: TurnResult, question: int | None) -> int | None:
        """Store the assistant's answer (even a partial one) in the conversation, below
        the run's question (`question`, found when the turn started)."""
        if not result.content and not result.calls:
            return None
        if question is not None and run.conversation_id is not None:
            answer = Answer(
                run.conversation_id,
                question,
                result.content,
                run.id,
                result.call_records(),
                result.citations,
            )
            return await transact(engine_of(self.turn.sessions), add_answer, answer)
        async with self.turn.sessions() as db:
            conversation = await db.get(Conversation, run.conversation_id)
            if conversation is None:  # deleted while the run went on
                return None
            message = await add_message(
                db,
                conversation,
                "assistant",
                result.content,
                tools_used=result.call_records(),
                run_id=run.id,
                citations=result.citations,
                parent_id=APPEND,
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
        result = await self.turn.run(run, writer, agent, goal)
        status = "succeeded" if result.error is None else "failed"
        return Outcome(
            status,
            result.content,
            result.tools_used,
            None,
            result.error,
            result.usage,
            citations=result.citations,
        )
