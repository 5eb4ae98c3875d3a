"""Creating, finding and listing runs (every query scoped to the owner), and `RunService`,
the one way in for everything that starts, follows, cancels or decides runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.agents import DEFAULT_AGENT, DEFAULT_RUN_AGENT
from orchestrator.core.config import Settings
from orchestrator.core.errors import Conflict, InvalidInput, NotFound
from orchestrator.db.models import Approval, Conversation, Message, Run, new_id, utcnow
from orchestrator.db.session import engine_of, transact
from orchestrator.engine.events import FINAL_STATUSES, RunEventOut, TaintSource
from orchestrator.runs.approvals import ApprovalBroker, Decided, Decision
from orchestrator.runs.attachments import attached_paths, with_note
from orchestrator.runs.executor import RunExecutor, request_cancel
from orchestrator.runs.log import RunEventLog
from orchestrator.runs.processor import RunProcessor
from orchestrator.runs.workflow import Workflow
from orchestrator.schemas.runs import ChatRequest
from orchestrator.services.conversations import APPEND, add_question
from orchestrator.tools.workspace import Workspace
from orchestrator.usage import Quotas

if TYPE_CHECKING:
    from orchestrator.knowledge import KnowledgeBase
    from orchestrator.llm.gateway import ModelGateway
    from orchestrator.services.agents import AgentCatalog

TITLE_LENGTH = 60
TOOL_RUN_AGENT = "mcp"  # what a tool run shows as its agent: no agent chose the call
DEFAULT_TITLE = "New conversation"
# Every chat turn starts with these: built once.
_RUNS: Table = Run.__table__  # type: ignore[assignment]
_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
_INSERT_RUN = insert(_RUNS)
_INSERT_CONVERSATION = insert(_CONVERSATIONS)
_CONVERSATION = select(
    _CONVERSATIONS.c.active_message_id,
    _CONVERSATIONS.c.title,
    _CONVERSATIONS.c.agent,
    _CONVERSATIONS.c.model,
).where(_CONVERSATIONS.c.id == bindparam("id"), _CONVERSATIONS.c.user_id == bindparam("user_id"))
_RENAME = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("id"))
    .values(title=bindparam("title"))
)
_MESSAGE_OF = select(Message.id).where(
    Message.id == bindparam("id"), Message.conversation_id == bindparam("conversation_id")
)


def title_from(message: str) -> str:
    """A conversation title from its first message."""
    line = " ".join(message.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


@dataclass(frozen=True)
class ChatStart:
    """A chat turn to store: the user's message, where it goes, and its run's settings."""

    user_id: int
    message: str
    conversation_id: str | None  # None: a new conversation
    model: str | None
    agent: str | None
    knowledge: list[str] | None = None
    tainted_by: TaintSource | None = None  # the untrusted content the turn starts with
    parent_id: int | None = APPEND  # the message it answers (APPEND: the active branch's end)
    admit: Callable[[Connection, int], None] | None = None  # `Quotas.admit_on`
    reserve: Callable[[Run], None] | None = None  # `RunExecutor.reserve`


def start_chat_turn(connection: Connection, start: ChatStart) -> Run:
    """Admit the turn (`start.admit`), then store the user's message (below
    `start.parent_id`, by default at the end of the active branch) and a queued chat run
    for it (a new conversation if none): the body of one transaction
    (`db.session.transact`, every chat turn starts with one), with statements built once.
    The executor sets what it needs on the run before it is stored (`start.reserve`); the
    run comes back as stored, every column set."""
    if start.admit is not None:
        start.admit(connection, start.user_id)
    now = utcnow()
    conversation_id, agent, model = start.conversation_id, start.agent, start.model
    if conversation_id is None:
        if start.parent_id is not APPEND and start.parent_id is not None:
            raise InvalidInput("parent_message_id needs the conversation_id it belongs to")
        conversation_id = new_id()
        connection.execute(
            _INSERT_CONVERSATION,
            {
                "id": conversation_id,
                "user_id": start.user_id,
                "title": title_from(start.message),
                "model": model,
                "agent": agent,
                "active_message_id": None,
                "created_at": now,
                "updated_at": now,
            },
        )
        parent = None
    else:
        found = connection.execute(
            _CONVERSATION, {"id": conversation_id, "user_id": start.user_id}
        ).first()
        if found is None:
            raise NotFound("conversation not found")
        if start.parent_id is APPEND:
            parent = found.active_message_id
        elif start.parent_id is None:
            parent = None
        else:
            parent = connection.execute(
                _MESSAGE_OF, {"id": start.parent_id, "conversation_id": conversation_id}
            ).scalar()
            if parent is None:
                raise NotFound("message not found")
        if found.title == DEFAULT_TITLE:
            connection.execute(_RENAME, {"id": conversation_id, "title": title_from(start.message)})
        agent, model = agent or found.agent, model or found.model
    run = Run(
        id=new_id(),
        user_id=start.user_id,
        kind="chat",
        goal=start.message,
        agent=agent or "assistant",
        model=model,
        conversation_id=conversation_id,
        knowledge=start.knowledge or None,
        tainted_by=start.tainted_by.model_dump() if start.tainted_by is not None else None,
        status="queued",
        checkpoint={},
        last_seq=0,
        created_at=now,
    )
    if start.reserve is not None:
        start.reserve(run)
    connection.execute(_INSERT_RUN, {column.key: getattr(run, column.key) for column in _RUNS.c})
    add_question(connection, conversation_id, start.message, parent_id=parent, run_id=run.id)
    return run


async def create_run(
    db: AsyncSession,
    user_id: int,
    goal: str,
    *,
    agent: str,
    model: str | None,
    kind: str,
    reserve: Callable[[Run], None] | None = None,
) -> Run:
    """Store a queued run (`reserve`: as for `start_chat_turn`) and commit."""
    run = Run(user_id=user_id, kind=kind, goal=goal, agent=agent, model=model)
    if reserve is not None:
        reserve(run)
    db.add(run)
    await db.commit()
    return run


async def get_run(db: AsyncSession, user_id: int, run_id: str) -> Run:
    """The run if it is the user's; otherwise `NotFound`, as for a missing one."""
    run = await db.scalar(select(Run).where(Run.id == run_id, Run.user_id == user_id))
    if run is None:
        raise NotFound("run not found")
    return run


async def list_runs(
    db: AsyncSession,
    user_id: int,
    *,
    status: str | None,
    kind: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Run], int]:
    """The user's runs, newest first."""
    query = select(Run).where(Run.user_id == user_id)
    if status:
        query = query.where(Run.status == status)
    if kind:
        query = query.where(Run.kind == kind)
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await db.scalars(query.order_by(Run.created_at.desc()).limit(limit).offset(offset))
    return list(rows), total


class RunService:
    """What every caller does with runs: start a chat turn or a run, follow it, cancel it,
    decide its approvals. The API routes, the WebSocket and the CLI all go through here,
    so each rule (agent and model checks, kind, ownership) lives in one place."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        quotas: Quotas,
        agents: AgentCatalog,
        models: ModelGateway,
        processor: RunProcessor,
        executor: RunExecutor,
        event_log: RunEventLog,
        approvals: ApprovalBroker,
        settings: Settings | None = None,
        knowledge: KnowledgeBase | None = None,
    ) -> None:
        self.settings = settings  # for attachments: where the users' workspaces are
        self.sessions = sessions
        self.quotas = quotas
        self._admitting = asyncio.Lock()  # the count and the new row, one start at a time
        self.knowledge = knowledge
        self.agents = agents
        self.models = models
        self.processor = processor
        self.executor = executor
        self.event_log = event_log
        self.approvals = approvals
        self._verifying: set[str] = set()  # runs whose VERIFY runs again right now

    async def start_chat(self, user_id: int, request: ChatRequest) -> Run:
        """Check the agent and model, store the message, and queue the chat turn."""
        await self.agents.get(request.agent or DEFAULT_AGENT)
        if request.knowledge:  # only the user's own collections; another's is 404
            owned = (
                []
                if self.knowledge is None
                else await self.knowledge.owned_collection_ids(user_id, request.knowledge)
            )
            if len(owned) != len(set(request.knowledge)):
                raise NotFound("knowledge collection not found")
        if request.model is not None:
            await self.models.resolve(request.model)
        message = request.message
        taint: TaintSource | None = None
        if request.attachments:
            if self.settings is None:
                raise InvalidInput("this server takes no attachments")
            workspace = await asyncio.to_thread(Workspace.for_user, self.settings, user_id)
            message = await asyncio.to_thread(with_note, workspace, message, request.attachments)
            # Uploaded files are untrusted: the turn's exec/network calls wait for approval.
            taint = TaintSource(tool="attachment", source=", ".join(attached_paths(message)))
        start = ChatStart(
            user_id,
            message,
            request.conversation_id,
            request.model,
            request.agent,
            request.knowledge,
            taint,
            request.parent_message_id if request.parent_given else APPEND,
            admit=self.quotas.admit_on,
            reserve=self.executor.reserve,
        )
        async with self._admitting:
            run = await transact(engine_of(self.sessions), start_chat_turn, start)
        await self.executor.submit(run.id, run)
        return run

    async def start_run(
        self, user_id: int, goal: str, *, agent: str | None = None, model: str | None = None
    ) -> Run:
        """Check the agent and model, and queue an autonomous run towards `goal` (the
        five-phase workflow for a workflow agent, the default; one turn for a chat agent)."""
        spec = await self.agents.get(agent or DEFAULT_RUN_AGENT)
        if model is not None:
            await self.models.resolve(model)
        kind = (
            "workflow" if spec.mode == "workflow" and self.processor.handles("workflow") else "task"
        )
        async with self._admitting, self.sessions() as db:
            await self._admit(db, user_id)
            run = await create_run(
                db,
                user_id,
                goal,
                agent=spec.name,
                model=model,
                kind=kind,
                reserve=self.executor.reserve,
            )
        await self.executor.submit(run.id, run)
        return run

    async def add_run(
        self,
        db: AsyncSession,
        user_id: int,
        goal: str,
        *,
        agent: str | None,
        model: str | None,
        origin: str,
        tainted_by: TaintSource | None = None,
    ) -> Run:
        """Check the agent, the model and the user's quota, and add a queued run to `db`'s
        transaction (not committed: the caller commits it with what started it, then
        `submit`s it). For runs no person starts: schedules and webhooks (`origin`)."""
        spec = await self.agents.get(agent or DEFAULT_RUN_AGENT)
        if model is not None:
            await self.models.resolve(model)
        kind = (
            "workflow" if spec.mode == "workflow" and self.processor.handles("workflow") else "task"
        )
        await self._admit(db, user_id)
        run = Run(
            user_id=user_id,
            kind=kind,
            goal=goal,
            agent=spec.name,
            model=model,
            origin=origin,
            tainted_by=tainted_by.model_dump() if tainted_by is not None else None,
        )
        db.add(run)
        await db.flush()
        return run

    async def submit(self, run_id: str) -> None:
        """Hand a committed queued run to the executor (a run never submitted is still
        found by the executors' sweep)."""
        await self.executor.submit(run_id)

    async def start_tool_call(self, user_id: int, goal: str) -> Run:
        """Queue a `tool` run: the one call its goal names (see `runs.tool_call`), under
        the tool gate like an agent's calls (the MCP server's callers)."""
        async with self._admitting, self.sessions() as db:
            await self._admit(db, user_id)
            run = await create_run(
                db,
                user_id,
                goal,
                agent=TOOL_RUN_AGENT,
                model=None,
                kind="tool",
                reserve=self.executor.reserve,
            )
        await self.executor.submit(run.id, run)
        return run

    async def _admit(self, db: AsyncSession, user_id: int) -> None:
        """`QuotaExceeded` when a new run would take the user over a quota (runs at once,
        runs or tokens today); the user's row stays locked until the run is stored."""
        await self.quotas.admit(db, user_id)

    async def get(self, user_id: int, run_id: str) -> Run:
        """The user's run, or `NotFound`."""
        async with self.sessions() as db:
            return await get_run(db, user_id, run_id)

    async def events(
        self, user_id: int, run_id: str, after: int = 0, limit: int = 500
    ) -> tuple[list[RunEventOut], int]:
        """The user's run's events after `after` (at most `limit`), and how many there are."""
        run = await self.get(user_id, run_id)
        events = await self.event_log.read(run_id, after, limit)
        last = max(run.last_seq, events[-1].seq if events else 0)
        return events, max(0, last - after)

    def follow(self, run_id: str, after: int = 0) -> AsyncIterator[RunEventOut]:
        """The run's events after `after`, then live ones, until `complete` (check the
        owner first: `get`)."""
        return self.event_log.follow(run_id, after)

    async def cancel(self, user_id: int, run_id: str) -> Run:
        """Cancel the user's run wherever it is; a finished run answers `Conflict`."""
        run = await self.get(user_id, run_id)
        if run.status in FINAL_STATUSES:
            raise Conflict(f"the run already ended ({run.status})", code="run_ended")
        await request_cancel(self.sessions, run_id)
        if not await self.executor.cancel(run_id):
            await self.processor.cancel_idle(run)
        return await self.get(user_id, run_id)

    async def decide(
        self, user_id: int, approval_id: str, decision: Decision, *, run_id: str | None = None
    ) -> Decided:
        """Approve or deny one of the user's pending tool calls (of `run_id`, if given)."""
        async with self.sessions() as db:
            found = await db.scalar(
                select(Approval.run_id).where(
                    Approval.id == approval_id, Approval.user_id == user_id
                )
            )
        if found is None or (run_id is not None and found != run_id):
            raise NotFound("approval not found")
        return await self.approvals.decide(
            run_id=found, approval_id=approval_id, user_id=user_id, decision=decision
        )

    async def verify_again(self, user_id: int, run_id: str) -> Run:
        """VERIFY the user's finished workflow run once more: new `phase` events on its
        log (seq goes on) and the new verdict in its checkpoint. `NotFound` for another
        user's run, `Conflict` for a run that is not a finished workflow."""
        run = await self.get(user_id, run_id)
        if run.kind != "workflow" or run.status not in {"succeeded", "failed"}:
            raise Conflict(
                f"only a finished workflow run can be verified (this one: {run.kind}, {run.status})"
            )
        workflow = self.processor.kinds.get("workflow")
        if not isinstance(workflow, Workflow):
            raise Conflict("workflow runs are not executed by this server")
        if run_id in self._verifying:
            raise Conflict("this run is being verified already")
        self._verifying.add(run_id)
        try:
            writer = await self.event_log.open(run_id)
            try:
                await workflow.verify_again(run, writer)
                await writer.flush()
            finally:
                self.event_log.release(writer)
        finally:
            self._verifying.discard(run_id)
        return await self.get(user_id, run_id)

    async def join(self, run_id: str) -> None:
        """Wait until this process has finished executing the run (at once if it does not
        hold it)."""
        await self.executor.join(run_id)
