"""Executes one run from its id, whichever process or worker holds it.

Loads the run, writes `status` events, hands the work to the run's kind (a chat turn;
workflows come with the workflow engine), and always ends the log with `complete`
(after an `error` on failure). A run interrupted by a shutdown is left for the next
process to resume; one cancelled by its user ends `cancelled`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from orchestrator.agents import AgentSpec
from orchestrator.core.config import Settings
from orchestrator.core.errors import OrchestratorError
from orchestrator.db.models import Run, utcnow
from orchestrator.engine.events import Citation, CompleteData, ErrorData, StatusData, Usage
from orchestrator.observability import Tracing
from orchestrator.runs.lease import LeaseLost, held_lease
from orchestrator.runs.log import RunChanges, RunEventLog, RunWriter

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What a run's work produced."""

    status: str  # succeeded | failed
    content: str
    tools_used: list[str] = field(default_factory=list)
    message_id: int | None = None
    error: ErrorData | None = None
    usage: Usage | None = None
    citations: list[dict[str, object]] = field(default_factory=list)


RunWork = Callable[[Run, RunWriter], Awaitable[Outcome]]


class RunProcessor:
    """Runs the work of one run and keeps its status and log consistent."""

    def __init__(
        self,
        settings: Settings,
        event_log: RunEventLog,
        kinds: dict[str, RunWork],
        agents: Callable[[str], Awaitable[AgentSpec]],
        *,
        tracing: Tracing | None = None,
    ) -> None:
        self.settings = settings
        self.tracing = tracing or Tracing()
        self.log = event_log
        self.kinds = kinds
        self.agents = agents
        self.cancel_requested: set[str] = set()
        self._delegated: set[str] = set()  # runs executing here that started a child run

    def handles(self, kind: str) -> bool:
        """Whether runs of `kind` can execute here."""
        return kind in self.kinds

    async def execute(self, run_id: str, *, new: Run | None = None) -> None:
        """Execute the run to its end (under the lease this task holds, if any: if the
        lease is lost meanwhile, `LeaseLost` and nothing more is written). `new`: the run's
        row as its executor just stored it, under that lease (`RunExecutor.reserve`): it
        is not read again, and its log is known to be empty."""
        if new is None:
            async with self.log.sessions() as db:
                run = await db.get(Run, run_id)
        else:
            run = new
        if run is None or run.status in {"succeeded", "failed", "cancelled"}:
            return
        if run.parent_run_id is not None:
            self._delegated.add(run.parent_run_id)
        if new is None:
            writer = await self.log.open(run_id, held_lease.get())
        else:
            writer = await self.log.open_new(new, held_lease.get())
        if run.cancel_requested_at is not None:  # cancelled while nobody was executing it
            await self.finish(run, writer, Outcome("cancelled", ""))
            return
        try:
            changes = (
                RunChanges(status="running", started_at=utcnow())
                if run.started_at is None
                else RunChanges(status="running")
            )
            await writer.emit(StatusData(status="running"), changes)
            with self.tracing.run(
                run.id,
                kind=run.kind,
                agent=run.agent,
                user_id=run.user_id,
                parent=run.parent_run_id,
            ) as span:
                outcome = await self._work_within_budget(run, writer)
                if span is not None:
                    span.set_attribute("run.status", outcome.status)
        except asyncio.CancelledError:
            # A user's cancel (of this run or of the run that delegated to it) ends it;
            # a shutdown leaves it active for the next process to resume.
            if not {run_id, run.parent_run_id} & self.cancel_requested:
                await writer.close()
                raise
            await self.finish(run, writer, Outcome("cancelled", ""))
            self.cancel_requested.discard(run_id)
            raise
        except LeaseLost:
            writer.lose()  # another process holds the run now: leave it all to that one
            raise
        await self.finish(run, writer, outcome, resumed=new is None)

    async def _work_within_budget(self, run: Run, writer: RunWriter) -> Outcome:
        """The run's work, ended cleanly when it goes over RUN_MAX_SECONDS (resumes count
        the time already spent)."""
        budget = self.settings.run_max_seconds
        spent = (utcnow() - run.started_at).total_seconds() if run.started_at else 0.0
        try:
            async with asyncio.timeout(max(0.0, budget - spent)):
                return await self._work(run, writer)
        except TimeoutError:
            message = f"the run went over its time budget ({budget:g} s)"
            return Outcome("failed", "", error=ErrorData(message=message, code="time_budget"))

    async def _work(self, run: Run, writer: RunWriter) -> Outcome:
        work = self.kinds.get(run.kind)
        if work is None:
            return Outcome(
                "failed",
                "",
                error=ErrorData(message=f"unknown run kind {run.kind!r}", code="internal"),
            )
        try:
            return await work(run, writer)
        except OrchestratorError as exc:
            return Outcome("failed", "", error=ErrorData(message=exc.message, code=exc.code))
        except (asyncio.CancelledError, LeaseLost):
            raise
        except Exception as exc:  # a bug must end the run visibly, never leave it "running"
            log.exception("run %s crashed", run.id)
            return Outcome(
                "failed",
                "",
                error=ErrorData(message=f"internal error ({type(exc).__name__})", code="internal"),
            )

    async def finish(
        self, run: Run, writer: RunWriter, outcome: Outcome, *, resumed: bool = True
    ) -> None:
        """Log the error (if any) and `complete`, store the result, release the writer.
        Children left active end too, unless the run is new (`resumed=False`) and
        started none: then it has none."""
        try:
            if outcome.error is not None:
                await writer.emit(outcome.error)
            complete = CompleteData(
                status=outcome.status,
                content=outcome.content,
                run_id=run.id,
                conversation_id=run.conversation_id,
                message_id=outcome.message_id,
                tools_used=outcome.tools_used,
                usage=outcome.usage,
                citations=[Citation.model_validate(c) for c in outcome.citations],
            )
            # The run's final state and its last event are written together.
            await writer.emit(
                complete,
                RunChanges(
                    status=outcome.status,
                    result=outcome.content,
                    error=outcome.error.message if outcome.error else None,
                    finished_at=utcnow(),
                    lease_owner=None,
                    lease_expires_at=None,
                ),
            )
        finally:
            await writer.close()
        if resumed or run.id in self._delegated:
            self._delegated.discard(run.id)
            await self._end_orphaned_children(run.id)

    async def _end_orphaned_children(self, run_id: str) -> None:
        """Children a restart left behind end with their parent, as cancelled."""
        async with self.log.sessions() as db:
            children = list(
                await db.scalars(
                    select(Run).where(
                        Run.parent_run_id == run_id,
                        Run.status.in_(("queued", "running", "waiting")),
                    )
                )
            )
        for child in children:
            await self.cancel_idle(child)

    async def cancel_idle(self, run: Run) -> None:
        """End a run that no process is executing (queued, or orphaned) as cancelled."""
        writer = await self.log.open(run.id)
        await self.finish(run, writer, Outcome("cancelled", ""))
