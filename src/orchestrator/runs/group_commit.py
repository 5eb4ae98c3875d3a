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

On a SQLite file a batch's transaction runs whole in a thread with a connection of its
own (`db.sqlite_thread`): one hand-off between threads per batch, where the engine's
connections take one per statement and one to commit. It takes its turn to write with the
engine's connections (`WriteTurns`), so neither waits in SQLite's busy handler for the
other. Elsewhere (Postgres) it runs on the loop. Either way it runs to its end once started, even
if the task waiting for it is cancelled, so no writer is told "not written" about events
that were.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Table, Update, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.db._sqlite import WriteTurns
from orchestrator.db.models import JSONText, ModelUsage, Run, RunEvent
from orchestrator.db.session import sqlite_thread_engine, write_turns
from orchestrator.db.sqlite_thread import SQLiteThread, through_cancellation
from orchestrator.runs.lease import Lease

log = logging.getLogger(__name__)

_RUNS = cast(Table, Run.__table__)
_EVENTS = cast(Table, RunEvent.__table__)
_USAGE = cast(Table, ModelUsage.__table__)
# An event's `data` comes serialised (`Write.events`): written as it is.
_INSERT_EVENTS = insert(_EVENTS).values(data=bindparam("data", type_=JSONText()))
_INSERT_USAGE = insert(_USAGE)
# Locks the rows of the runs whose leases a batch was written under (see `_held`).
_HOLD = (
    update(_RUNS)
    .where(_RUNS.c.id.in_(bindparam("ids", expanding=True)))
    .values(lease_owner=_RUNS.c.lease_owner)
    .returning(_RUNS.c.id, _RUNS.c.lease_owner)
)
_UPDATES: dict[tuple[str, ...], Update] = {}  # the runs' columns a batch sets -> its UPDATE


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
    """One writer's flush: its event rows (`data` as JSON text), their usage rows and its
    run's new columns."""

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
        engine: AsyncEngine,
        *,
        grouped: bool = True,
        window: float = 0.0,
        max_writes: int = 512,
    ) -> None:
        self.engine = engine
        # On a SQLite file: the thread that writes, with its own connection (else: the loop).
        file = sqlite_thread_engine(engine)
        self._thread = SQLiteThread(file, "event-log") if file is not None else None
        self._turns = write_turns(engine)
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
        attempt = self._commit([write for write, _ in batch])
        cancelled = await through_cancellation(attempt)  # a started transaction is seen out
        try:
            stored = attempt.result()
        except Exception as exc:
            if len(batch) > 1 and not cancelled:
                log.warning("a batch of %d run event writes failed, retrying each", len(batch))
                for one in batch:
                    await self._settle([one])
                return
            for write, future in batch:
                log.error("run %s: events not written: %s", write.run_id, exc)
                if not future.done():
                    future.set_exception(EventWriteFailed(write.run_id, write.seqs(), exc))
        else:
            self.transactions += 1
            for (_, future), ok in zip(batch, stored, strict=True):
                if not future.done():
                    future.set_result(ok)
        if cancelled:
            raise asyncio.CancelledError

    def _commit(self, writes: list[Write]) -> asyncio.Future[list[bool]]:
        """The transaction that writes `writes`, started: which of them were kept."""
        loop = asyncio.get_running_loop()
        if self._thread is None:
            return loop.create_task(self._commit_on_loop(writes))
        if self._turns is None:
            return self._thread.transaction(_write, writes)
        return loop.create_task(self._commit_in_turn(self._turns, writes))

    async def _commit_in_turn(self, turns: WriteTurns, writes: list[Write]) -> list[bool]:
        """The batch written by the thread while the engine's other writers wait their turn."""
        assert self._thread is not None
        lock = await turns.acquire()
        try:
            written = self._thread.transaction(_write, writes)
            await through_cancellation(written)  # the lock is held until it is done
            return written.result()
        finally:
            lock.release()

    async def _commit_on_loop(self, writes: list[Write]) -> list[bool]:
        async with self.engine.begin() as connection:
            return await connection.run_sync(_write, writes)

    def close(self) -> None:
        """Stop the writing thread, after any write in flight, and close its connection."""
        if self._thread is not None:
            self._thread.close()


def _write(db: Connection, writes: list[Write]) -> list[bool]:
    """Write `writes` in `db`'s transaction (not committed): whether each was kept."""
    # First, so that it locks the leases' rows until the commit: a takeover waits for
    # this batch, or this batch sees the takeover and drops that lease's writes.
    held = _held(db, {w.lease for w in writes if w.lease is not None})
    kept = [w for w in writes if w.lease is None or w.lease in held]
    events = [row for w in kept for row in w.events]
    if events:
        db.execute(_INSERT_EVENTS, events)
    usage = [row for w in kept for row in w.usage]
    if usage:  # accounted with the event that reports it: both or neither
        db.execute(_INSERT_USAGE, usage)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for w in sorted(kept, key=lambda w: w.run_id):  # one lock order for all
        if w.columns:
            params = {f"v_{k}": v for k, v in w.columns.items()}
            params["b_id"] = w.run_id
            by_columns.setdefault(tuple(sorted(w.columns)), []).append(params)
    for names, rows in by_columns.items():
        db.execute(_update(names), rows)
    return [w.lease is None or w.lease in held for w in writes]


def _update(names: tuple[str, ...]) -> Update:
    """The UPDATE of a run's columns `names` (built once per set of names)."""
    statement = _UPDATES.get(names)
    if statement is None:
        statement = _UPDATES[names] = (
            update(_RUNS)
            .where(_RUNS.c.id == bindparam("b_id"))
            .values({name: bindparam(f"v_{name}") for name in names})
        )
    return statement


def _held(db: Connection, leases: set[Lease]) -> set[Lease]:
    """Those of `leases` that still hold their run, locking the runs' rows (or, on
    SQLite, the database) for the rest of the transaction."""
    if not leases:
        return set()
    rows = db.execute(_HOLD, {"ids": sorted({lease.run_id for lease in leases})})
    owners = {run_id: owner for run_id, owner in rows}
    return {lease for lease in leases if owners.get(lease.run_id) == lease.owner}
