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

QUEUE_SIZE = 10_000


class EventBus:
    """In-process publish/subscribe keyed by run id."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[RunEventOut | None]]] = defaultdict(set)

    def publish(self, event: RunEventOut) -> None:
        for queue in self._subscribers.get(event.run_id, ()):
            # A stalled reader re-reads the log when it sees the gap.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)

    async def ready(self, run_id: str) -> None:
        """Return once events published from now on reach this process's subscribers."""

    async def unflushed(self, run_id: str, after: int) -> list[RunEventOut]:
        """Events after `after` that a writer published but the log may not hold yet."""
        return []

    def forget(self, run_id: str) -> None:
        """The run's log holds everything published so far: drop what backs it up."""

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
