"""Usage (every user their own, admins everyone's) and quotas (admins set them)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import Query

from orchestrator.api.deps import AdminUser, CurrentUser, RuntimeDep, SessionDep
from orchestrator.api.routing import ApiRouter
from orchestrator.core.errors import InvalidInput
from orchestrator.schemas.common import MAX_DB_INT, DbId
from orchestrator.schemas.usage import QuotaIn, QuotaOut, QuotaUseOut, QuotaValues
from orchestrator.usage import (
    GroupBy,
    RunsByStatus,
    UsageReport,
    next_reset,
    runs_by_status,
    usage_report,
)

router = ApiRouter(tags=["usage"])
MAX_DAYS = 366
DEFAULT_DAYS = 30
GROUPS: frozenset[str] = frozenset({"day", "user", "model", "agent"})


def _group_by(text: str) -> list[GroupBy]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in keys if k not in GROUPS]
    if unknown or len(set(keys)) != len(keys):
        raise InvalidInput("group_by: one or more of day, user, model, agent, each once")
    return keys  # type: ignore[return-value]


def _range(from_: date | None, to: date | None) -> tuple[date, date]:
    end = to or date.today()
    start = from_ or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidInput("`from` is after `to`")
    if (end - start).days >= MAX_DAYS:
        raise InvalidInput(f"at most {MAX_DAYS} days at once")
    return start, end


@router.get("/usage", response_model_by_alias=True)
async def get_usage(
    user: CurrentUser,
    db: SessionDep,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    group_by: Annotated[str, Query(max_length=40)] = "day",
    user_id: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None,
) -> UsageReport:
    """Tokens in and out, model seconds and calls, runs and tool calls from `from` to `to`
    (UTC days, both included; the last 30 days by default), grouped by `group_by` (day,
    user, model, agent, or several joined by commas). A user sees their own; an admin
    everyone's, or one user's with `user_id`."""
    start, end = _range(from_, to)
    if user.role != "admin":
        user_id = user.id  # another user's figures are not theirs to see
    return await usage_report(
        db, start=start, end=end, group_by=_group_by(group_by), user_id=user_id
    )


@router.get("/usage/runs", response_model_by_alias=True)
async def get_runs_by_status(
    user: CurrentUser,
    db: SessionDep,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None,
) -> RunsByStatus:
    """Runs created from `from` to `to` (UTC days, both included; the last 30 days by
    default) counted by status. A user counts their own; an admin everyone's, or one
    user's with `user_id`."""
    start, end = _range(from_, to)
    if user.role != "admin":
        user_id = user.id
    return await runs_by_status(db, start=start, end=end, user_id=user_id)


@router.get("/usage/quota")
async def my_quota(user: CurrentUser, db: SessionDep, runtime: RuntimeDep) -> QuotaUseOut:
    """The caller's limits in force and what they used today."""
    limits = await runtime.quotas.limits(db, user.id)
    used = await runtime.quotas.use(db, user.id)
    return QuotaUseOut(
        limits=QuotaValues(**limits.__dict__),
        tokens_today=used.tokens_today,
        runs_today=used.runs_today,
        active_runs=used.active_runs,
        reset_at=next_reset(),
    )


async def _quota_out(runtime: RuntimeDep, db: SessionDep, user_id: int) -> QuotaOut:
    own = await runtime.quotas.override(db, user_id)
    limits = await runtime.quotas.limits(db, user_id)
    return QuotaOut(
        user_id=user_id,
        tokens_per_day=own.tokens_per_day if own else None,
        runs_per_day=own.runs_per_day if own else None,
        concurrent_runs=own.concurrent_runs if own else None,
        effective=QuotaValues(**limits.__dict__),
    )


@router.get("/users/{user_id}/quota", tags=["users"])
async def get_quota(user_id: DbId, _: AdminUser, db: SessionDep, runtime: RuntimeDep) -> QuotaOut:
    """A user's own quota and the limits in force (admins; 404 for no such user)."""
    return await _quota_out(runtime, db, user_id)


@router.put("/users/{user_id}/quota", tags=["users"])
async def put_quota(
    user_id: DbId, body: QuotaIn, _: AdminUser, db: SessionDep, runtime: RuntimeDep
) -> QuotaOut:
    """Set a user's quota (admins): each field replaces the role's setting; null restores it."""
    await runtime.quotas.set_override(
        db,
        user_id,
        tokens_per_day=body.tokens_per_day,
        runs_per_day=body.runs_per_day,
        concurrent_runs=body.concurrent_runs,
    )
    return await _quota_out(runtime, db, user_id)
