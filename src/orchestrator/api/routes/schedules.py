"""Schedules: runs started on a cron timetable, and the runs each one started."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, status

from orchestrator.api.deps import CurrentUser, RuntimeDep
from orchestrator.api.routing import ApiRouter
from orchestrator.schemas.common import Offset, Page
from orchestrator.schemas.runs import RunOut
from orchestrator.schemas.schedules import ScheduleCreate, ScheduleOut, ScheduleUpdate

router = ApiRouter(prefix="/schedules", tags=["schedules"])


@router.get("")
async def list_schedules(user: CurrentUser, runtime: RuntimeDep) -> Page[ScheduleOut]:
    """The user's schedules."""
    rows = await runtime.schedules.list(user.id)
    return Page(data=[ScheduleOut.model_validate(r) for r in rows], count=len(rows))


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_schedule(
    body: ScheduleCreate, user: CurrentUser, runtime: RuntimeDep
) -> ScheduleOut:
    """Start a run towards `goal` at each time `cron` names in `timezone` (IANA)."""
    return ScheduleOut.model_validate(await runtime.schedules.create(user.id, body))


@router.get("/{schedule_id}")
async def get_schedule(schedule_id: str, user: CurrentUser, runtime: RuntimeDep) -> ScheduleOut:
    """One schedule."""
    return ScheduleOut.model_validate(await runtime.schedules.get(user.id, schedule_id))


@router.patch("/{schedule_id}")
async def update_schedule(
    schedule_id: str, body: ScheduleUpdate, user: CurrentUser, runtime: RuntimeDep
) -> ScheduleOut:
    """Change a schedule (a new timetable moves `next_run_at`)."""
    return ScheduleOut.model_validate(await runtime.schedules.update(user.id, schedule_id, body))


@router.delete("/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_schedule(schedule_id: str, user: CurrentUser, runtime: RuntimeDep) -> None:
    """Remove a schedule; the runs it started stay."""
    await runtime.schedules.delete(user.id, schedule_id)


@router.get("/{schedule_id}/runs")
async def schedule_runs(
    schedule_id: str,
    user: CurrentUser,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    offset: Offset = 0,
) -> Page[RunOut]:
    """The runs the schedule started, newest first."""
    rows, total = await runtime.schedules.runs_of(user.id, schedule_id, limit=limit, offset=offset)
    return Page(data=[RunOut.model_validate(r) for r in rows], count=total)
