"""A run's append-only event log: `seq` from 1 with no gaps, rows written in batches.

Token and thinking deltas are buffered and written together (every `flush_interval` or
`max_batch` events). Deltas that come in one turn of the event loop (a model's chunks that
arrived in one read from its socket) become one event, published at the end of that
turn: a fast model's burst costs one event, one row and one frame, and no delta waits
for another that has not arrived yet. Every other event is written before `emit`
returns, so a tool's `finished` is durable before the run moves on, and published only
then. The writes of all runs in a process share transactions (`runs.group_commit`): one
commit stores what every writer has waiting. Subscribers get each event as soon as it is published.

With a bus between processes, deltas a crashed writer had published but not written are
adopted by the next writer (`EventBus.unflushed`), so no reader ever saw an event the log
then lost; `follow` fills any gap from the log or the bus before it yields past it.

A writer opened under a run's lease (`runs.lease`) is fenced: each batch is written only
if the run's row still names its holder (checked first, in the same transaction), and
each event is published only while the bus's fence names it. A holder that stalled past
its lease and woke after another took the run over gets `LeaseLost` from `emit` and
neither writes nor publishes again, so no reader sees an event the log does not keep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.db.models import Run, RunEvent
from orchestrator.db.session import engine_of, fetch
from orchestrator.db.sqlite_thread import through_cancellation
from orchestrator.engine.events import (
    Payload,
    RunEventOut,
    RunStatus,
    ThinkingData,
    TokenData,
    UsageData,
    make_event,
    parse_event,
)
from orchestrator.runs.bus import EventBus
from orchestrator.runs.group_commit import (
    EventWriteFailed,
    GroupCommit,
    Write,
)
from orchestrator.runs.lease import Lease, LeaseLost

if TYPE_CHECKING:
    from orchestrator.observability import EventMetrics

log = logging.getLogger(__name__)
BUFFERED_TYPES = frozenset({"token", "thinking"})
# Written with the run's next write and published after it, in order: a model call's
# usage is followed at once by its tool call or its answer, so it needs no commit of its
# own (it stays in the transaction of its accounting row either way).
DEFERRED_TYPES = frozenset({"usage"})
POLL_SECONDS = 5.0
# Every follower reads the log when it starts: built once.
_READ = (
    select(RunEvent.run_id, RunEvent.seq, RunEvent.type, RunEvent.data, RunEvent.created_at)
    .where(RunEvent.run_id == bindparam("run_id"), RunEvent.seq > bindparam("after"))
    .order_by(RunEvent.seq)
    .limit(bindparam("limit"))
)
GAP_RETRY_SECONDS = 0.05  # how often a follower looks again for events it skipped


class RunChanges(BaseModel):
    """Changes to a run's row, written with an event in one transaction. Only the fields
    given are written (`lease_owner=None` clears the lease; leaving it out keeps it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: RunStatus | None = None
    phase: str | None = None
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    result: str | None = None
    error: str | None = None
    checkpoint: dict[str, Any] | None = None
    lease_owner: str | None = None
    lease_expires_at: AwareDatetime | None = None

    def columns(self) -> dict[str, object]:
        """The columns to write, by name."""
        return dict(self.model_dump(exclude_unset=True))


class RunWriter:
    """The single writer of one run's log in this process."""

    def __init__(
        self,
        log: RunEventLog,
        run_id: str,
        last_seq: int,
        lease: Lease | None = None,
        *,
        user_id: int | None = None,
        agent: str = "",
    ) -> None:
        self._log = log
        self.run_id = run_id
        self.last_seq = last_seq
        self.lease = lease  # the fencing token of every write and publish (None: unfenced)
        self.lost = False  # the lease went to another process: this writer is done
        self.user_id = user_id  # whom the run's `usage` events are accounted to
        self.agent = agent
        self.pending: list[RunEventOut] = []
        self.held: list[RunEventOut] = []  # deferred events, published once written
        # The last delta, still taking the deltas of this turn of the loop (unpublished).
        self.open_delta: RunEventOut | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def emit(self, data: Payload, changes: RunChanges | None = None) -> RunEventOut:
        """Append one event. Deltas are published at once and written soon; any other
        event is written (with `changes` to the run's row, in the same transaction)
        before it is published. `LeaseLost` once another process holds the run; a
        payload that is no event type raises ValueError."""
        if self.lost:
            assert self.lease is not None
            raise LeaseLost(self.lease)
        if changes is None and isinstance(data, TokenData | ThinkingData):
            merged = self._merge(data)
            if merged is not None:
                return merged
            if self.held:  # nothing is published after an event still unwritten
                await self.flush()
        self.publish_open_delta()  # nothing is published before an earlier event
        # The event holds `data` itself: payloads are not changed once emitted.
        event = make_event(
            data, run_id=self.run_id, seq=self.last_seq + 1, timestamp=datetime.now(UTC)
        )
        self.last_seq = event.seq
        self.pending.append(event)
        if self._log.metrics is not None:
            self._log.metrics.observe(event)
        if event.type in DEFERRED_TYPES and changes is None:
            self.held.append(event)
            if self._flush_task is None:  # written soon even if nothing follows
                self._flush_task = asyncio.create_task(self._flush_later())
        elif event.type in BUFFERED_TYPES and changes is None:
            # The last pending event, so later deltas of this turn join it; published
            # once this turn of the loop is done.
            self.open_delta = event
            asyncio.get_running_loop().call_soon(self._publish_delta, event)
            if len(self.pending) >= self._log.max_batch:
                await self.flush()
            elif self._flush_task is None:
                self._flush_task = asyncio.create_task(self._flush_later())
        else:
            await self.flush(changes)
            self._log.bus.publish(event, self.lease)
        return event

    def _merge(self, data: TokenData | ThinkingData) -> RunEventOut | None:
        """The open delta with `data`'s text appended, if `data` continues it (None if
        there is none: `data` becomes an event of its own)."""
        event = self.open_delta  # always the last pending event: any other emit closes it
        if event is None or type(event.data) is not type(data):
            return None
        assert isinstance(event.data, TokenData | ThinkingData)
        merged = make_event(
            type(data)(text=event.data.text + data.text),
            run_id=self.run_id,
            seq=event.seq,
            timestamp=event.timestamp,
        )
        self.pending[-1] = self.open_delta = merged
        return merged

    def _publish_delta(self, event: RunEventOut) -> None:
        """The end of the loop's turn that opened `event`: publish it as it is now."""
        if self.open_delta is not None and self.open_delta.seq == event.seq:
            self.publish_open_delta()

    def publish_open_delta(self) -> None:
        """Publish the open delta now: nothing more joins it."""
        event, self.open_delta = self.open_delta, None
        if event is not None and not self.lost:
            self._log.bus.publish(event, self.lease)

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._log.flush_interval)
        self._flush_task = None
        # The next emit raises either to the run (a failed write stays pending, retried).
        with contextlib.suppress(LeaseLost, EventWriteFailed):
            await self.flush()

    def _stop_timer(self) -> None:
        """Cancel the pending `_flush_later`: a later event starts its own, a full interval
        after it (else a timer left by events written since would cut the next deltas'
        batch short)."""
        if self._flush_task is not None:
            self._flush_task.cancel()
            self._flush_task = None

    def lose(self) -> None:
        """The lease is gone: publish and write nothing more (pending events are the new
        holder's to adopt from the bus, or were never seen)."""
        self.lost = True
        self.open_delta = None
        self.pending.clear()
        self.held.clear()
        self._stop_timer()
        self._log.release(self)

    async def flush(self, run_changes: RunChanges | None = None) -> None:
        """Write every pending event, and changes to the run's row, in one transaction
        (shared with other writers': `GroupCommit`), if this writer's lease still holds
        (`LeaseLost` if not; `EventWriteFailed` if the database failed the write)."""
        self.publish_open_delta()  # the batch below is final: its deltas are whole
        async with self._lock:
            if self.lost:
                assert self.lease is not None
                raise LeaseLost(self.lease)
            self.publish_open_delta()
            batch = list(self.pending)  # emit may append while we write
            if not batch and run_changes is None:
                return
            columns = run_changes.columns() if run_changes is not None else {}
            if batch:
                columns["last_seq"] = batch[-1].seq
            write = Write(
                self.run_id,
                self.lease,
                [
                    {
                        "run_id": e.run_id,
                        "seq": e.seq,
                        "type": e.type,
                        "data": e.data.model_dump_json(),
                        "created_at": e.timestamp,
                    }
                    for e in batch
                ],
                [self._usage(e) for e in batch if e.type == "usage"],
                columns,
            )
            stored = self._log.committer.submit(write)
            try:
                await _settled(stored)
            finally:
                # Even if this task is cancelled meanwhile, the write is settled: keep
                # `pending` true to it, so that no later flush writes these events again.
                if stored.done() and stored.exception() is None:
                    if stored.result():
                        # Only now: readers look at `pending` for what the log lacks.
                        del self.pending[: len(batch)]
                        self._publish_held(batch[-1].seq if batch else 0)
                        if not self.pending:
                            self._stop_timer()  # its events are written: not due anymore
                    else:
                        self.lose()
            if not stored.result():  # raises EventWriteFailed, if that was the outcome
                assert self.lease is not None
                raise LeaseLost(self.lease)

    def _publish_held(self, written: int) -> None:
        """Publish the deferred events the log now has (they are older than what follows)."""
        while self.held and self.held[0].seq <= written:
            self._log.bus.publish(self.held.pop(0), self.lease)

    def _usage(self, event: RunEventOut) -> dict[str, Any]:
        data = event.data
        assert isinstance(data, UsageData)
        assert self.user_id is not None, "a run's writer knows its owner"
        return {
            "run_id": self.run_id,
            "seq": event.seq,
            "user_id": self.user_id,
            "agent": self.agent,
            "model": data.model[:200],
            "tokens_in": data.prompt_tokens,
            "tokens_out": data.completion_tokens,
            "seconds": data.seconds,
            "created_at": event.timestamp,
        }

    async def close(self) -> None:
        """Write what is pending and let go of the run (nothing, if the lease is lost)."""
        self._stop_timer()
        with contextlib.suppress(LeaseLost):
            await self.flush()
        if not self.lost:
            self._log.bus.forget(self.run_id, self.lease)
            if self.lease is not None and self.lease.run_id == self.run_id:
                self._log.bus.let_go(self.lease)
        self._log.release(self)


async def _settled(future: asyncio.Future[bool]) -> None:
    """Wait until `future` is done, even through a cancellation (raised afterwards)."""
    if await through_cancellation(future):
        raise asyncio.CancelledError


async def holds(db: AsyncSession, lease: Lease) -> bool:
    """Whether `lease` still holds its run, locking the run's row (or, on SQLite, the
    database) for the rest of the transaction."""
    result = await db.execute(
        update(Run)
        .where(Run.id == lease.run_id, Run.lease_owner == lease.owner)
        .values(lease_owner=lease.owner)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


class RunEventLog:
    """Opens writers, reads the log, and follows a run live."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        *,
        flush_interval: float = 0.05,
        max_batch: int = 256,
        metrics: EventMetrics | None = None,
        group_commit: bool = True,
        group_window: float = 0.0,
    ) -> None:
        self.sessions = sessions
        # Every writer's flushes, several runs' per transaction (`grouped=False`: one each).
        self.committer = GroupCommit(engine_of(sessions), grouped=group_commit, window=group_window)
        self.metrics = metrics  # counts runs, tool calls and tokens from the events
        self.bus = bus
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self._writers: dict[str, RunWriter] = {}

    async def open(self, run_id: str, lease: Lease | None = None) -> RunWriter:
        """The writer for `run_id`, continuing after its last stored event; with `lease`,
        fenced by it (`LeaseLost` if another process holds the run already)."""
        if lease is not None:
            async with self.sessions() as db:
                if not await holds(db, lease):
                    raise LeaseLost(lease)
                # Under the row's lock: a later holder's take-over comes after this one.
                await self.bus.take_over(lease)
                await db.commit()
        async with self.sessions() as db:
            last = await db.scalar(select(func.max(RunEvent.seq)).where(RunEvent.run_id == run_id))
            owner = (
                await db.execute(select(Run.user_id, Run.agent).where(Run.id == run_id))
            ).first()
        user_id, agent = owner if owner is not None else (None, "")
        writer = RunWriter(self, run_id, last or 0, lease, user_id=user_id, agent=agent)
        unflushed = await self.bus.unflushed(run_id, writer.last_seq)
        adopted = contiguous(unflushed, writer.last_seq)
        if writer.last_seq or unflushed:  # a run taken over: say what it went on from
            log.info(
                "run %s continues after seq %d; adopts %d of %d unwritten deltas (%s)",
                run_id,
                writer.last_seq,
                len(adopted),
                len(unflushed),
                ", ".join(str(e.seq) for e in unflushed[:5]),
            )
        if adopted:  # deltas a vanished writer published but never wrote
            writer.pending.extend(adopted)
            writer.last_seq = adopted[-1].seq
            await writer.flush()
        self.bus.forget(run_id, lease)
        self._writers[run_id] = writer
        return writer

    async def open_new(self, run: Run, lease: Lease | None = None) -> RunWriter:
        """The writer of a run just stored under `lease` (`RunExecutor.reserve`): its log
        is empty, nobody else has held it, and its row says whom it runs for, so `open`'s
        reads (the lease, the last event, the owner, what a vanished writer left) are
        known answers."""
        if lease is not None:
            await self.bus.take_over(lease)
        writer = RunWriter(self, run.id, run.last_seq, lease, user_id=run.user_id, agent=run.agent)
        self._writers[run.id] = writer
        return writer

    def close(self) -> None:
        """Let go of what the log writes with (its writers are closed by then)."""
        self.committer.close()

    def release(self, writer: RunWriter) -> None:
        if self._writers.get(writer.run_id) is writer:
            del self._writers[writer.run_id]

    def lose(self, lease: Lease) -> None:
        """Another process holds `lease`'s run now: stop every writer opened under it."""
        for writer in list(self._writers.values()):
            if writer.lease == lease:
                writer.lose()

    async def read(self, run_id: str, after: int = 0, limit: int = 500) -> list[RunEventOut]:
        """Events with seq > `after`, oldest first, including those not yet written."""
        rows = await fetch(self.sessions, _READ, {"run_id": run_id, "after": after, "limit": limit})
        events = [
            parse_event(
                {
                    "type": r.type,
                    "data": r.data,
                    "timestamp": r.created_at,
                    "run_id": r.run_id,
                    "seq": r.seq,
                }
            )
            for r in rows
        ]
        last = events[-1].seq if events else after
        writer = self._writers.get(run_id)
        if writer is not None and len(events) < limit:
            # Not the open delta: its text may still grow, and it is published soon.
            unread = (e for e in list(writer.pending) if e.seq > last)
            events.extend(e for e in unread if e is not writer.open_delta)
        return events[:limit]

    async def follow(self, run_id: str, after: int = 0) -> AsyncIterator[RunEventOut]:
        """Every event after `after`, then live ones, without gaps or repeats, until `complete`."""
        loop = asyncio.get_running_loop()
        with self.bus.subscribe(run_id) as queue:
            await self.bus.ready(run_id)
            last = after
            ahead: dict[int, RunEventOut] = {}  # live events past a gap, held until it fills
            look_at = loop.time()  # when to read the log and the bus for what we lack
            while True:
                if loop.time() >= look_at:
                    for event in await self._catch_up(run_id, last):
                        ahead.setdefault(event.seq, event)
                    look_at = loop.time() + POLL_SECONDS
                while last + 1 in ahead:
                    event = ahead.pop(last + 1)
                    yield event
                    last = event.seq
                    if event.type == "complete":
                        return
                if ahead:  # a gap remains: its events are on their way to the log
                    look_at = min(look_at, loop.time() + GAP_RETRY_SECONDS)
                try:
                    live = await asyncio.wait_for(queue.get(), max(0.0, look_at - loop.time()))
                except TimeoutError:  # nothing heard for a while, or a gap to fill
                    continue
                if live is None or live.seq <= last:
                    continue
                if live.seq > last + 1 and not ahead:  # just missed some: look at once
                    look_at = loop.time()
                ahead[live.seq] = live

    async def _catch_up(self, run_id: str, after: int) -> list[RunEventOut]:
        """What the log holds after `after`, then what the bus still holds past it."""
        events = await self.read(run_id, after, limit=1_000_000)
        last = events[-1].seq if events else after
        return events + contiguous(await self.bus.unflushed(run_id, last), last)


def contiguous(events: list[RunEventOut], after: int) -> list[RunEventOut]:
    """The leading events that continue `after` one seq at a time."""
    run: list[RunEventOut] = []
    for event in sorted(events, key=lambda e: e.seq):
        if event.seq != after + len(run) + 1:
            break
        run.append(event)
    return run
