"""Run execution behind one interface. `InProcessExecutor` runs them as asyncio tasks in
this process; the queue-backed executor for several machines fits the same interface.

Each run is held under a lease (owner, expiry) renewed while it runs. A run whose
holder vanished - a crash, a kill -9 - has a lease that expires, and the sweeper gives
it to this process to resume, so no run stays `running` forever. A holder that only
stalled (load, GC, SIGSTOP) and finds its lease gone when it wakes is fenced off: its
writers drop what they have (`runs.lease`), and the heartbeat cancels its task.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import Protocol, cast

from sqlalchemy import Table, Update, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.db.models import Run, utcnow
from orchestrator.runs.lease import Lease, LeaseLost, held_lease
from orchestrator.runs.processor import RunProcessor

log = logging.getLogger(__name__)
ACTIVE_STATUSES = ("queued", "running", "waiting")


class RunExecutor(Protocol):
    """Where runs execute."""

    def reserve(self, run: Run) -> None:
        """Called on a new run before its row is stored: an executor that executes runs
        in this process takes the run's lease in that same insert (`submit` then skips
        the claim and the reload)."""
        ...

    async def submit(self, run_id: str, run: Run | None = None) -> None:
        """Execute the committed run, somewhere; `run`: its row as just stored, if the
        caller has it."""
        ...

    async def cancel(self, run_id: str) -> bool:
        """Stop the run (its cancel is already stored). False when nobody executes it and
        this process now holds its lease: the caller ends it (`RunProcessor.cancel_idle`)."""
        ...

    async def join(self, run_id: str) -> None:
        """Return once this executor no longer executes the run (at once if it does not)."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def claim_lease(
    sessions: async_sessionmaker[AsyncSession],
    run_id: str,
    owner: str,
    seconds: float,
    *,
    expired: bool = True,
) -> bool:
    """Take the run's lease for `owner` if it is free (or expired, with `expired`): an
    atomic update."""
    now = utcnow()
    until = now + timedelta(seconds=seconds)
    params = {"run_id": run_id, "owner": owner, "now": now, "until": until}
    async with sessions() as db:
        result = await db.execute(_CLAIM_EXPIRED if expired else _CLAIM_FREE, params)
        await db.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _claim(*, expired: bool) -> Update:
    """The lease's claim for `:owner` (built once: every run is claimed at least once)."""
    runs = cast(Table, Run.__table__)
    free = [runs.c.lease_owner.is_(None), runs.c.lease_owner == bindparam("owner")]
    if expired:
        free.append(runs.c.lease_expires_at < bindparam("now"))
    return (
        update(runs)
        .where(runs.c.id == bindparam("run_id"), runs.c.status.in_(ACTIVE_STATUSES), or_(*free))
        .values(lease_owner=bindparam("owner"), lease_expires_at=bindparam("until"))
    )


_CLAIM_EXPIRED = _claim(expired=True)
_CLAIM_FREE = _claim(expired=False)


async def request_cancel(sessions: async_sessionmaker[AsyncSession], run_id: str) -> None:
    """Store the run's cancel: whoever executes it now, or resumes it later, ends it."""
    async with sessions() as db:
        await db.execute(
            update(Run)
            .where(
                Run.id == run_id,
                Run.status.in_(ACTIVE_STATUSES),
                Run.cancel_requested_at.is_(None),
            )
            .values(cancel_requested_at=utcnow())
        )
        await db.commit()


class InProcessExecutor:
    """Runs as tasks of this event loop, with leases and a sweeper for orphans."""

    def __init__(
        self,
        processor: RunProcessor,
        sessions: async_sessionmaker[AsyncSession],
        *,
        lease_seconds: float = 30.0,
        owner: str | None = None,
        max_runs: int | None = None,
    ) -> None:
        self.processor = processor
        self.sessions = sessions
        self.lease_seconds = lease_seconds
        self.owner = owner or new_owner_id()
        self.max_runs = max_runs  # how many runs the sweeper may hold at once (None: any)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        # One claim at a time in this process. The sweeper and the queue can offer the
        # same run at once, and a lease already ours is claimed again successfully, so
        # without it one process would execute the run twice.
        self._claiming = asyncio.Lock()

    def reserve(self, run: Run) -> None:
        run.lease_owner = self.owner
        run.lease_expires_at = utcnow() + timedelta(seconds=self.lease_seconds)

    def _reserved(self, run: Run | None) -> bool:
        """Whether `run` is a new row stored with this executor's lease, in time: nobody
        else can claim it before its lease expires, so it needs no claim of its own. Half
        the lease is left as margin against clocks that differ between processes."""
        return (
            run is not None
            and run.status == "queued"
            and run.last_seq == 0
            and run.lease_owner == self.owner
            and run.lease_expires_at is not None
            and utcnow() + timedelta(seconds=self.lease_seconds / 2) < run.lease_expires_at
        )

    async def submit(self, run_id: str, run: Run | None = None) -> None:
        async with self._claiming:
            new = run if self._reserved(run) else None
            if run_id in self.tasks or (new is None and not await self._claim(run_id)):
                return
            task = asyncio.create_task(self._hold(run_id, new), name=f"run-{run_id}")
            self.tasks[run_id] = task
        task.add_done_callback(functools.partial(self._forget, run_id))

    def _forget(self, run_id: str, task: asyncio.Task[None]) -> None:
        if self.tasks.get(run_id) is task:
            del self.tasks[run_id]

    async def cancel(self, run_id: str) -> bool:
        if await self.stop_run(run_id):
            return True
        # Not executing here: take it if nobody holds it (queued, orphaned); a holder
        # elsewhere sees the stored cancel at its next lease renewal.
        async with self._claiming:
            if run_id not in self.tasks:
                return not await self._claim(run_id)
        return await self.stop_run(run_id)  # submitted here meanwhile

    async def stop_run(self, run_id: str) -> bool:
        """Cancel the run if this executor is executing it; False when it is not."""
        task = self.tasks.get(run_id)
        if task is None:
            return False
        self.processor.cancel_requested.add(run_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), timeout=5)
        return True

    async def join(self, run_id: str) -> None:
        task = self.tasks.get(run_id)
        if task is not None:
            await asyncio.wait({task})

    async def start(self) -> None:
        """Resume orphaned runs now and keep sweeping for them."""
        await self.sweep()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="run-sweeper")

    async def stop(self) -> None:
        """Stop holding runs; they stay active in the database for the next process."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if tasks:  # let the next process take them over at once
            async with self.sessions() as db:
                await db.execute(
                    update(Run)
                    .where(Run.lease_owner == self.owner)
                    .values(lease_owner=None, lease_expires_at=None)
                )
                await db.commit()

    async def sweep(self) -> list[str]:
        """Submit every active run that nobody holds; returns their ids."""
        async with self.sessions() as db:
            ids = list(
                await db.scalars(
                    select(Run.id)
                    .where(
                        Run.status.in_(ACTIVE_STATUSES),
                        Run.parent_run_id.is_(None),  # children run inside their parent
                        or_(Run.lease_expires_at.is_(None), Run.lease_expires_at < utcnow()),
                    )
                    .order_by(Run.created_at)
                )
            )
        taken = []
        for run_id in ids:
            if self.max_runs is not None and len(self.tasks) >= self.max_runs:
                break
            await self.submit(run_id)
            taken.append(run_id)
        return taken

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 2)
            try:
                await self.sweep()
            except Exception:  # the sweeper must outlive a database hiccup
                log.exception("run sweep failed")

    async def _claim(self, run_id: str) -> bool:
        return await claim_lease(self.sessions, run_id, self.owner, self.lease_seconds)

    async def _hold(self, run_id: str, new: Run | None = None) -> None:
        held_lease.set(Lease(run_id, self.owner))  # this task's; its writers are fenced by it
        task = asyncio.current_task()
        assert task is not None
        heartbeat = asyncio.create_task(self._renew(run_id, task))
        try:
            await self.processor.execute(run_id, new=new)
        except asyncio.CancelledError:
            pass  # shutdown, cancel or lease lost: the processor has left the run consistent
        except LeaseLost:
            log.warning("run %s was taken over by another process; stopped here", run_id)
        except Exception:
            log.exception("run %s failed outside its work", run_id)
        finally:
            heartbeat.cancel()

    async def _renew(self, run_id: str, task: asyncio.Task[None]) -> None:
        """Keep the lease, act on a stored cancel that no message brought here, and stop
        the run here if another process took its lease over (this one stalled)."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            async with self.sessions() as db:
                renewed = await db.execute(
                    update(Run)
                    .where(
                        Run.id == run_id,
                        Run.lease_owner == self.owner,
                    )
                    .values(lease_expires_at=utcnow() + timedelta(seconds=self.lease_seconds))
                )
                cancelled, status = (
                    await db.execute(
                        select(Run.cancel_requested_at, Run.status).where(Run.id == run_id)
                    )
                ).one()
                await db.commit()
            if not renewed.rowcount and status in ACTIVE_STATUSES:  # type: ignore[attr-defined]
                log.warning("run %s: lease lost to another process; stopping it here", run_id)
                self.processor.log.lose(Lease(run_id, self.owner))
                task.cancel()
                return
            if cancelled is not None:
                self.processor.cancel_requested.add(run_id)
                task.cancel()
                return
