"""A run's append-only event log: `seq` from 1 with no gaps, rows written in batches.

Token and thinking deltas are buffered and written together (every `flush_interval` or
`max_batch` events); every other event is written before `emit` returns, so a tool's
`finished` is durable before the run moves on. Subscribers get each event at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.db.models import Run, RunEvent
from orchestrator.engine.events import RunEventOut, event_type
from orchestrator.runs.bus import EventBus

BUFFERED_TYPES = frozenset({"token", "thinking"})
POLL_SECONDS = 5.0


class RunWriter:
    """The single writer of one run's log in this process."""

    def __init__(self, log: RunEventLog, run_id: str, last_seq: int) -> None:
        self._log = log
        self.run_id = run_id
        self.last_seq = last_seq
        self.pending: list[RunEventOut] = []
        self._flush_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def emit(self, data: BaseModel, **run_changes: object) -> RunEventOut:
        """Append one event. Deltas are published at once and written soon; any other
        event is written (with `run_changes` to the run's row, in the same transaction)
        before it is published."""
        self.last_seq += 1
        kind = event_type(data)
        event = RunEventOut(
            type=kind,
            data=data.model_dump(mode="json"),
            timestamp=datetime.now(UTC),
            run_id=self.run_id,
            seq=self.last_seq,
        )
        self.pending.append(event)
        if kind in BUFFERED_TYPES and not run_changes:
            self._log.bus.publish(event)
            if len(self.pending) >= self._log.max_batch:
                await self.flush()
            elif self._flush_task is None:
                self._flush_task = asyncio.create_task(self._flush_later())
        else:
            await self.flush(run_changes)
            self._log.bus.publish(event)
        return event

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._log.flush_interval)
        self._flush_task = None
        await self.flush()

    async def flush(self, run_changes: dict[str, object] | None = None) -> None:
        """Write every pending event, and changes to the run's row, in one transaction."""
        async with self._lock:
            batch = list(self.pending)  # emit may append while we write
            if not batch and not run_changes:
                return
            changes = dict(run_changes or {})
            if batch:
                changes["last_seq"] = batch[-1].seq
            async with self._log.sessions() as db:
                db.add_all(
                    RunEvent(
                        run_id=e.run_id, seq=e.seq, type=e.type, data=e.data, created_at=e.timestamp
                    )
                    for e in batch
                )
                await db.execute(update(Run).where(Run.id == self.run_id).values(**changes))
                await db.commit()
            # Only now: readers look at `pending` for what the database does not have yet.
            del self.pending[: len(batch)]

    async def close(self) -> None:
        if self._flush_task is not None:
            self._flush_task.cancel()
            self._flush_task = None
        await self.flush()
        self._log.release(self)


class RunEventLog:
    """Opens writers, reads the log, and follows a run live."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        *,
        flush_interval: float = 0.05,
        max_batch: int = 256,
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self._writers: dict[str, RunWriter] = {}

    async def open(self, run_id: str) -> RunWriter:
        """The writer for `run_id`, continuing after its last stored event."""
        async with self.sessions() as db:
            last = await db.scalar(select(func.max(RunEvent.seq)).where(RunEvent.run_id == run_id))
        writer = RunWriter(self, run_id, last or 0)
        self._writers[run_id] = writer
        return writer

    def release(self, writer: RunWriter) -> None:
        if self._writers.get(writer.run_id) is writer:
            del self._writers[writer.run_id]

    async def read(self, run_id: str, after: int = 0, limit: int = 500) -> list[RunEventOut]:
        """Events with seq > `after`, oldest first, including those not yet written."""
        async with self.sessions() as db:
            rows = await db.scalars(
                select(RunEvent)
                .where(RunEvent.run_id == run_id, RunEvent.seq > after)
                .order_by(RunEvent.seq)
                .limit(limit)
            )
            events = [
                RunEventOut(
                    type=r.type, data=r.data, timestamp=r.created_at, run_id=r.run_id, seq=r.seq
                )
                for r in rows
            ]
        last = events[-1].seq if events else after
        writer = self._writers.get(run_id)
        if writer is not None and len(events) < limit:
            events.extend(e for e in list(writer.pending) if e.seq > last)
        return events[:limit]

    async def follow(self, run_id: str, after: int = 0) -> AsyncIterator[RunEventOut]:
        """Every event after `after`, then live ones, without gaps or repeats, until `complete`."""
        with self.bus.subscribe(run_id) as queue:
            last = after
            for event in await self.read(run_id, after, limit=1_000_000):
                yield event
                last = event.seq
                if event.type == "complete":
                    return
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), POLL_SECONDS)
                except TimeoutError:  # nothing heard: the log may still have moved on
                    event = None
                if event is None:
                    for missed in await self.read(run_id, last):
                        yield missed
                        last = missed.seq
                        if missed.type == "complete":
                            return
                    continue
                if event.seq <= last:
                    continue
                if event.seq > last + 1:  # missed some: the log has them
                    for missed in await self.read(run_id, last, limit=event.seq - last - 1):
                        yield missed
                        last = missed.seq
                yield event
                last = event.seq
                if event.type == "complete":
                    return
