"""Group commit: the durable writes of every run in a process share transactions.

Each `RunWriter.flush` hands its events (and changes to its run's row) to the process's
`GroupCommit` and waits. One task writes whatever is waiting in one transaction: those
that came in while the previous one committed, plus any that arrive within `window`
seconds or until `max_writes` wait. A writer's events are published only once its
`submit` future says they are stored, so "written before it is published" holds as it
did with one transaction per flush, and seqs stay gapless because each writer has at
most one write in flight.

Fencing is per write: the transaction first locks the rows of the leases its writes
were opened under and keeps only the writes whose lease still names its holder; the
others are answered `False` (their writer raises `LeaseLost`) and written nowhere.

A batch that fails (the database refused a row, the connection broke) is retried one
write per transaction, so a bad write fails its own writer and no other; each failed
writer gets `EventWriteFailed` naming its run and the events that were not written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from orchestrator.db.models import ModelUsage, Run, RunEvent
from orchestrator.runs.lease import Lease

log = logging.getLogger(__name__)

_RUNS = Run.__table__
_EVENTS = RunEvent.__table__
_USAGE = ModelUsage.__table__


class EventWriteFailed(Exception):
    """A writer's events could not be stored; nothing of that write was published."""

    def __init__(self, run_id: str, seqs: tuple[int, int] | None, cause: BaseException) -> None:
        what = f"events {seqs[0]}-{seqs[1]}" if seqs else "changes to the run"
        super().__init__(f"run {run_id}: {what} not written ({type(cause).__name__}: {cause})")
        self.__cause__ = cause
        self.run_id = run_id
        self.seqs = seqs


@dataclass
class Write:
    """One writer's flush: its event rows, their usage rows and its run's new columns."""

    run_id: str
    lease: Lease | None
    events: list[dict[str, Any]]
    usage: list[dict[str, Any]] = field(default_factory=list)
    columns: dict[str, Any] = field(default_factory=dict)

    def seqs(self) -> tuple[int, int] | None:
        return (self.events[0]["seq"], self.events[-1]["seq"]) if self.events else None


class GroupCommit:
    """Writes the flushes of all of a process's run writers, several per transaction
    (`grouped=False`: each in its own, as soon as it comes, the baseline of `bench/events`)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        grouped: bool = True,
        window: float = 0.0,
        max_writes: int = 512,
    ) -> None:
        self.sessions = sessions
        self.grouped = grouped
        self.window = window
        self.max_writes = max_writes
        self.transactions = 0  # committed, for benchmarks and tests
        self._waiting: list[tuple[Write, asyncio.Future[bool]]] = []
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._alone: set[asyncio.Task[None]] = set()

    def submit(self, write: Write) -> asyncio.Future[bool]:
        """A future that says, once `write` is settled: True (stored), False (its lease
        is lost: nothing stored), or raises `EventWriteFailed` (nothing stored)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        if not self.grouped:
            task = loop.create_task(self._settle_alone(write, future))
            self._alone.add(task)
            task.add_done_callback(self._alone.discard)
            return future
        self._waiting.append((write, future))
        if len(self._waiting) >= self.max_writes:
            self._full.set()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._drain(), name="event-log-group-commit")
        return future

    async def _drain(self) -> None:
        batch: list[tuple[Write, asyncio.Future[bool]]] = []
        try:
            while self._waiting:
                # Writers made ready by the same wake-up join this batch.
                await asyncio.sleep(0)
                if self.window > 0 and len(self._waiting) < self.max_writes:
                    self._full.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._full.wait(), self.window)
                batch = self._waiting[: self.max_writes]
                del self._waiting[: len(batch)]
                await self._settle(batch)
                batch = []
        finally:  # cancelled (the loop shuts down): nobody may wait forever
            for write, future in batch + self._waiting:
                if not future.done():
                    future.set_exception(
                        EventWriteFailed(write.run_id, write.seqs(), RuntimeError("shut down"))
                    )
            self._waiting.clear()

    async def _settle_alone(self, write: Write, future: asyncio.Future[bool]) -> None:
        try:
            await self._settle([(write, future)])
        finally:
            if not future.done():
                future.set_exception(
                    EventWriteFailed(write.run_id, write.seqs(), RuntimeError("shut down"))
                )

    async def _settle(self, batch: list[tuple[Write, asyncio.Future[bool]]]) -> None:
        try:
            stored = await self._commit([write for write, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                log.warning("a batch of %d run event writes failed, retrying each", len(batch))
                for one in batch:
                    await self._settle([one])
                return
            write, future = batch[0]
            log.error("run %s: events not written: %s", write.run_id, exc)
            if not future.done():
                future.set_exception(EventWriteFailed(write.run_id, write.seqs(), exc))
            return
        for (_, future), ok in zip(batch, stored, strict=True):
            if not future.done():
                future.set_result(ok)

    async def _commit(self, writes: list[Write]) -> list[bool]:
        async with self.sessions() as db:
            stored = await db.run_sync(_write, writes)
            await db.commit()
        self.transactions += 1
        return stored


def _write(db: Session, writes: list[Write]) -> list[bool]:
    """Write `writes` in `db`'s transaction (not committed): whether each was kept."""
    # First, so that it locks the leases' rows until the commit: a takeover waits for
    # this batch, or this batch sees the takeover and drops that lease's writes.
    held = _held(db, {w.lease for w in writes if w.lease is not None})
    kept = [w for w in writes if w.lease is None or w.lease in held]
    events = [row for w in kept for row in w.events]
    if events:
        db.execute(insert(_EVENTS), events)
    usage = [row for w in kept for row in w.usage]
    if usage:  # accounted with the event that reports it: both or neither
        db.execute(insert(_USAGE), usage)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for w in sorted(kept, key=lambda w: w.run_id):  # one lock order for all
        if w.columns:
            params = {f"v_{k}": v for k, v in w.columns.items()} | {"b_id": w.run_id}
            by_columns.setdefault(tuple(sorted(w.columns)), []).append(params)
    for names, params in by_columns.items():
        statement = (
            update(_RUNS)
            .where(_RUNS.c.id == bindparam("b_id"))
            .values({name: bindparam(f"v_{name}") for name in names})
        )
        db.execute(statement, params)
    return [w.lease is None or w.lease in held for w in writes]


def _held(db: Session, leases: set[Lease]) -> set[Lease]:
    """Those of `leases` that still hold their run, locking the runs' rows (or, on
    SQLite, the database) for the rest of the transaction."""
    if not leases:
        return set()
    ids = sorted({lease.run_id for lease in leases})
    rows = db.execute(
        update(_RUNS)
        .where(_RUNS.c.id.in_(ids))
        .values(lease_owner=_RUNS.c.lease_owner)
        .returning(_RUNS.c.id, _RUNS.c.lease_owner)
    )
    owners = {run_id: owner for run_id, owner in rows}
    return {lease for lease in leases if owners.get(lease.run_id) == lease.owner}
