"""`orchestrator worker`: takes runs from the queue and executes them under leases.

Each run is held by an `InProcessExecutor` (lease on the run's row, renewed by a
heartbeat); its sweeper also takes over runs whose holder vanished - a worker killed with
SIGKILL - as soon as their lease expires, up to the worker's concurrency. The workflow
engine resumes them from their last finished step; tool calls that had finished are
replayed from their records, never run again. Control messages (cancel, approval
decided) reach the holder over Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from saq import Worker
from saq.types import Context, PartialTimersDict

from orchestrator.runs.executor import InProcessExecutor
from orchestrator.runtime import Runtime
from orchestrator.scale.control import ControlMessage
from orchestrator.scale.queue import JOB, JOB_HEARTBEAT_SECONDS, QueueExecutor

log = logging.getLogger(__name__)


class RunWorker:
    """One worker process: a saq worker feeding runs to a lease-holding executor."""

    def __init__(self, runtime: Runtime, *, concurrency: int) -> None:
        if not isinstance(runtime.executor, QueueExecutor):
            raise ValueError("a worker needs REDIS_URL: it takes runs from the Redis queue")
        self.runtime = runtime
        self.services = runtime.executor.services
        self.holder = InProcessExecutor(
            runtime.processor,
            runtime.sessions,
            lease_seconds=runtime.settings.run_lease_seconds,
            max_runs=concurrency,
        )
        self.saq = Worker(
            self.services.queue,
            functions=[(JOB, self.execute_job)],
            concurrency=concurrency,
            timers=PartialTimersDict(  # sweep: retire the jobs of dead workers sooner
                sweep=JOB_HEARTBEAT_SECONDS // 2, abort=1, schedule=1, worker_info=10
            ),
        )

    async def execute_job(self, ctx: Context, *, run_id: str) -> str:
        """The queue's job: hold and execute the run, unless another process holds it."""
        await self.holder.submit(run_id)
        task = self.holder.tasks.get(run_id)
        if task is None:
            return "held elsewhere or ended"
        job = ctx.get("job")
        while not task.done():
            # The run outlives this job if saq stops it: shutdown hands runs on by lease.
            await asyncio.wait({task}, timeout=JOB_HEARTBEAT_SECONDS / 4)
            if job is not None and not task.done():
                await job.update()  # saq's heartbeat
        return "done"

    async def on_control(self, message: ControlMessage) -> None:
        """Cancel a run held here; wake a waiter here for a decided approval."""
        if message.action == "cancel" and message.run_id is not None:
            await self.holder.stop_run(message.run_id)
        elif message.action == "approval" and message.approval_id is not None:
            self.runtime.approvals.wake(message.approval_id)

    async def run(self) -> None:
        """Work until SIGTERM or SIGINT, then hand held runs back (their leases end)."""
        await self.runtime.start()
        await self.services.control.listen(self.on_control)
        await self.holder.start()
        log.info("worker %s takes runs (concurrency %d)", self.holder.owner, self.saq.concurrency)
        try:
            await self.saq.start()  # returns after a signal
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await self.saq.stop()
            await self.holder.stop()
            await self.runtime.close()
