"""The queue-backed `RunExecutor`: API processes enqueue runs, `orchestrator worker`s run them.

The job queue is saq (https://github.com/tobymao/saq). Of the asyncio queues over Redis:
arq is in maintenance mode; taskiq-redis is a broker for a larger framework with its own
worker model and serialisation; streaq is young and its own API is still moving. saq is
actively maintained, asyncio-native, small, typed, and has what a long run needs: jobs
with no timeout, heartbeats, unique keys (a run is enqueued once), a worker with a
concurrency limit and graceful SIGTERM. The queue only hands runs out: which process may
execute a run is still decided by the lease on its row (`claim_lease`), so a job that
saq delivers twice, or a run whose worker died, never runs twice at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from saq.queue.redis import RedisQueue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.db.models import Run
from orchestrator.engine.events import FINAL_STATUSES
from orchestrator.runs.executor import claim_lease, new_owner_id
from orchestrator.scale.control import RunControl
from orchestrator.scale.redis_bus import RedisEventBus

log = logging.getLogger(__name__)
QUEUE_NAME = "orchestrator-runs"
JOB = "execute_run"
JOB_HEARTBEAT_SECONDS = 60  # saq retires the job of a dead worker after this (leases resume runs)
CANCEL_GRACE_SECONDS = 5.0
CANCEL_RESEND_SECONDS = 1.0


def job_key(run_id: str) -> str:
    return f"run:{run_id}"


@dataclass
class RedisServices:
    """One process's Redis connection and what runs on it: the bus, control and the queue."""

    redis: Redis
    bus: RedisEventBus
    control: RunControl
    queue: RedisQueue

    @classmethod
    def from_url(cls, url: str) -> RedisServices:
        """Services on the Redis at `url` (its database number keeps deployments apart)."""
        redis = Redis.from_url(url)
        return cls(
            redis, RedisEventBus(redis), RunControl(redis), RedisQueue(redis, name=QUEUE_NAME)
        )

    async def start(self) -> None:
        await self.queue.connect()
        await self.bus.start()

    async def close(self) -> None:
        await self.bus.close()
        await self.control.close()
        await self.queue.disconnect()  # closes the shared connection pool too


class QueueExecutor:
    """Enqueues runs for the workers; cancels a run wherever it executes."""

    def __init__(
        self,
        services: RedisServices,
        sessions: async_sessionmaker[AsyncSession],
        *,
        lease_seconds: float = 30.0,
        owner: str | None = None,
    ) -> None:
        self.services = services
        self.sessions = sessions
        self.lease_seconds = lease_seconds
        self.owner = owner or new_owner_id()

    def reserve(self, run: Run) -> None:
        """Workers claim the runs they take: nothing to take here."""

    async def submit(self, run_id: str, run: Run | None = None) -> None:
        """Queue the run; a run already queued is not queued twice."""
        await self.services.queue.enqueue(
            JOB,
            run_id=run_id,
            key=job_key(run_id),
            timeout=0,  # runs may wait for approvals; the lease decides when one is lost
            heartbeat=JOB_HEARTBEAT_SECONDS,
            retries=1,
        )

    async def cancel(self, run_id: str) -> bool:
        """Stop the run in the worker that holds it, waiting a little for it to end. False
        when nobody holds it (queued): then this process holds its lease, and the caller
        ends the run here (`cancel_idle`). A run whose worker died is not taken over here:
        its cancel is stored, and the worker that resumes it ends it at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CANCEL_GRACE_SECONDS
        resend_at = 0.0
        while True:
            if await claim_lease(
                self.sessions, run_id, self.owner, self.lease_seconds, expired=False
            ):
                return False
            if loop.time() >= resend_at:  # again later, in case it reached nobody
                await self.services.control.cancel(run_id)
                resend_at = loop.time() + CANCEL_RESEND_SECONDS
            status = await self._status(run_id)
            if status is None or status in FINAL_STATUSES:
                return True
            if loop.time() > deadline:
                log.warning("run %s has not stopped yet; its cancel is stored", run_id)
                return True
            await asyncio.sleep(0.05)

    async def join(self, run_id: str) -> None:
        """Workers execute runs, never this process: nothing to wait for here."""

    async def start(self) -> None:
        """Connect to Redis; this process only enqueues (workers execute)."""
        await self.services.start()

    async def stop(self) -> None:
        await self.services.close()

    async def _status(self, run_id: str) -> str | None:
        async with self.sessions() as db:
            return await db.scalar(select(Run.status).where(Run.id == run_id))
