"""A user's schedules (every query scoped to the owner) and the `Scheduler` that starts
their runs.

Exactly one run per due time, however many processes run the scheduler: a process claims
a due time by moving `next_run_at` on with `UPDATE ... WHERE id = :id AND next_run_at =
:due`, and creates the run in the same transaction. Only one such update can match (on
Postgres the second waits for the first's row lock, then sees the new value; SQLite has
one writer); a claim that matched no row was another process's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.core.errors import NotFound, OrchestratorError
from orchestrator.db.models import Run, Schedule, TriggerDelivery, utcnow
from orchestrator.runs.service import RunService
from orchestrator.schedules._cron import check_cron, next_due, parse_zone
from orchestrator.schemas.schedules import ScheduleCreate, ScheduleUpdate

log = logging.getLogger(__name__)
MAX_DUE_PER_TICK = 100
DELIVERY_KEEP = timedelta(minutes=15)  # past the 300 s window a replay is refused anyway
PRUNE_EVERY = timedelta(minutes=1)


def schedule_origin(schedule_id: str) -> str:
    return f"schedule:{schedule_id}"


class ScheduleBook:
    """Create, read, change and delete a user's schedules; another user's id is 404."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        runs: RunService,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.runs = runs
        self.clock = clock

    async def create(self, user_id: int, body: ScheduleCreate) -> Schedule:
        """Check the timetable, agent and model, and store the schedule."""
        cron = check_cron(body.cron)
        parse_zone(body.timezone)
        agent = await self._agent(body.agent)
        if body.model is not None:
            await self.runs.models.resolve(body.model)
        schedule = Schedule(
            user_id=user_id,
            name=body.name,
            cron=cron,
            timezone=body.timezone,
            goal=body.goal,
            agent=agent,
            model=body.model,
            enabled=body.enabled,
            misfire=body.misfire,
            next_run_at=next_due(cron, body.timezone, self.clock()) if body.enabled else None,
        )
        async with self.sessions() as db:
            db.add(schedule)
            await db.commit()
        return schedule

    async def list(self, user_id: int) -> list[Schedule]:
        """The user's schedules, oldest first."""
        async with self.sessions() as db:
            rows = await db.scalars(
                select(Schedule)
                .where(Schedule.user_id == user_id)
                .order_by(Schedule.created_at, Schedule.id)
            )
            return list(rows)

    async def get(self, user_id: int, schedule_id: str) -> Schedule:
        async with self.sessions() as db:
            return await _owned(db, user_id, schedule_id)

    async def update(self, user_id: int, schedule_id: str, body: ScheduleUpdate) -> Schedule:
        """Change fields; a new timetable, zone or re-enabling sets the next due time anew."""
        changes: dict[str, Any] = body.model_dump(exclude_unset=True)
        for field in ("name", "cron", "timezone", "goal", "enabled", "misfire"):
            if field in changes and changes[field] is None:
                del changes[field]  # null means "leave it" for the required fields
        if "cron" in changes:
            changes["cron"] = check_cron(changes["cron"])
        if "timezone" in changes:
            parse_zone(changes["timezone"])
        if "agent" in changes:
            changes["agent"] = await self._agent(changes["agent"])
        if changes.get("model") is not None:
            await self.runs.models.resolve(changes["model"])
        async with self.sessions() as db:
            schedule = await _owned(db, user_id, schedule_id)
            retime = bool({"cron", "timezone"} & changes.keys()) or (
                changes.get("enabled") is True and not schedule.enabled
            )
            for field, value in changes.items():
                setattr(schedule, field, value)
            if not schedule.enabled:
                schedule.next_run_at = None
            elif retime or schedule.next_run_at is None:
                schedule.next_run_at = next_due(schedule.cron, schedule.timezone, self.clock())
            schedule.updated_at = self.clock()
            await db.commit()
            return schedule

    async def delete(self, user_id: int, schedule_id: str) -> None:
        """Remove the schedule (its runs stay)."""
        async with self.sessions() as db:
            schedule = await _owned(db, user_id, schedule_id)
            await db.delete(schedule)
            await db.commit()

    async def runs_of(
        self, user_id: int, schedule_id: str, *, limit: int, offset: int
    ) -> tuple[list[Run], int]:
        """The runs the schedule started, newest first."""
        async with self.sessions() as db:
            await _owned(db, user_id, schedule_id)
            query = select(Run).where(
                Run.user_id == user_id, Run.origin == schedule_origin(schedule_id)
            )
            total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = await db.scalars(
                query.order_by(Run.created_at.desc()).limit(limit).offset(offset)
            )
            return list(rows), total

    async def _agent(self, name: str | None) -> str:
        from orchestrator.agents import DEFAULT_RUN_AGENT

        return (await self.runs.agents.get(name or DEFAULT_RUN_AGENT)).name


async def _owned(db: AsyncSession, user_id: int, schedule_id: str) -> Schedule:
    schedule = await db.scalar(
        select(Schedule).where(Schedule.id == schedule_id, Schedule.user_id == user_id)
    )
    if schedule is None:
        raise NotFound("schedule not found")
    return schedule


class Scheduler:
    """Starts the runs of due schedules, every `poll_seconds`, in every process that runs
    it (API processes and workers alike: the claim keeps it to one run per due time).

    Misfires: a due time found more than `grace` late (everything was down) starts one
    run under `run_once` (the default) and none under `skip`; either way the schedule
    moves on to its first due time after now, so missed slots never pile up."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        runs: RunService,
        *,
        poll_seconds: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.runs = runs
        self.poll_seconds = poll_seconds
        self.grace = timedelta(seconds=max(60.0, 2 * poll_seconds))
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._pruned_at: datetime | None = None

    async def start(self) -> None:
        """Catch up on what is due now (missed while down), then keep polling."""
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def tick(self) -> list[str]:
        """Start the run of every schedule due now; the ids of the runs this process made."""
        now = self.clock()
        async with self.sessions() as db:
            due = list(
                (
                    await db.execute(
                        select(Schedule.id, Schedule.next_run_at)
                        .where(Schedule.enabled, Schedule.next_run_at <= now)
                        .order_by(Schedule.next_run_at)
                        .limit(MAX_DUE_PER_TICK)
                    )
                ).all()
            )
            if self._pruned_at is None or now - self._pruned_at > PRUNE_EVERY:
                self._pruned_at = now
                await db.execute(
                    delete(TriggerDelivery).where(TriggerDelivery.received_at < now - DELIVERY_KEEP)
                )
                await db.commit()
        started = []
        for schedule_id, due_at in due:
            if due_at is not None and (run_id := await self._fire(schedule_id, due_at, now)):
                started.append(run_id)
        return started

    async def _fire(self, schedule_id: str, due_at: datetime, now: datetime) -> str | None:
        """Claim one due time; create and submit its run if this process won it."""
        async with self.sessions() as db:
            schedule = await db.get(Schedule, schedule_id)
            if schedule is None:
                return None
            following = next_due(schedule.cron, schedule.timezone, max(now, due_at))
            claimed = await db.execute(
                update(Schedule)
                .where(
                    Schedule.id == schedule_id,
                    Schedule.enabled,
                    Schedule.next_run_at == due_at,
                )
                .values(next_run_at=following)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                await db.rollback()
                return None  # another process took this due time
            if schedule.misfire == "skip" and now - due_at > self.grace:
                await db.commit()
                log.info("schedule %s skipped its missed due time %s", schedule_id, due_at)
                return None
            try:
                run = await self.runs.add_run(
                    db,
                    schedule.user_id,
                    schedule.goal,
                    agent=schedule.agent,
                    model=schedule.model,
                    origin=schedule_origin(schedule_id),
                )
            except OrchestratorError as exc:  # agent removed, model gone, quota used up
                await db.rollback()
                await self._spend(schedule_id, due_at, following)
                log.warning(
                    "schedule %s could not start its run due %s: %s", schedule_id, due_at, exc
                )
                return None
            await db.execute(
                update(Schedule)
                .where(Schedule.id == schedule_id)
                .values(last_run_id=run.id)
                .execution_options(synchronize_session=False)
            )
            await db.commit()
            run_id = run.id
        log.info("schedule %s started run %s (due %s)", schedule_id, run_id, due_at)
        await self.runs.submit(run_id)
        return run_id

    async def _spend(self, schedule_id: str, due_at: datetime, following: datetime) -> None:
        """Move past a due time whose run could not start (so it is not retried forever)."""
        async with self.sessions() as db:
            await db.execute(
                update(Schedule)
                .where(Schedule.id == schedule_id, Schedule.next_run_at == due_at)
                .values(next_run_at=following)
                .execution_options(synchronize_session=False)
            )
            await db.commit()

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # the scheduler must outlive a database hiccup
                log.exception("schedule tick failed")
            await asyncio.sleep(self.poll_seconds)
