"""Live fan-out of run events to subscribers in this process.

The log is the truth; the bus only wakes subscribers up. A subscriber that falls behind
or misses an event re-reads the log (see `RunEventLog.follow`). `RedisEventBus`
(orchestrator.scale) carries the same events between processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from orchestrator.engine.events import RunEventOut
from orchestrator.runs.lease import Lease

QUEUE_SIZE = 10_000


class EventBus:
    """In-process publish/subscribe keyed by run id."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[RunEventOut | None]]] = defaultdict(set)

    def publish(self, event: RunEventOut, lease: Lease | None = None) -> None:
        """Deliver the event (published under `lease`, if its writer holds one)."""
        for queue in self._subscribers.get(event.run_id, ()):
            # A stalled reader re-reads the log when it sees the gap.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)

    async def ready(self, run_id: str) -> None:
        """Return once events published from now on reach this process's subscribers."""

    async def unflushed(self, run_id: str, after: int) -> list[RunEventOut]:
        """Events after `after` that a writer published but the log may not hold yet."""
        return []

    def forget(self, run_id: str, lease: Lease | None = None) -> None:
        """The run's log holds everything published so far: drop what backs it up."""

    async def take_over(self, lease: Lease) -> None:
        """From now on only writers under `lease` publish the run's events (one process
        here: its writers stop themselves when they lose their lease)."""

    def let_go(self, lease: Lease) -> None:
        """`lease` ends (its run ended, or is handed on): drop its fence."""

    @contextmanager
    def subscribe(self, run_id: str) -> Iterator[asyncio.Queue[RunEventOut | None]]:
        """A queue receiving the run's events while the block runs."""
        queue: asyncio.Queue[RunEventOut | None] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers[run_id].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[run_id].discard(queue)
            if not self._subscribers[run_id]:
                del self._subscribers[run_id]
