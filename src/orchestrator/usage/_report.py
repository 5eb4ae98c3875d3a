"""`GET /usage`: tokens in and out, model seconds and calls, runs and tool calls, grouped by
any of day, user, model and agent, over a range of UTC days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.db.models import ModelUsage, Run, ToolCallRecord, User

GroupBy = Literal["day", "user", "model", "agent"]


class UsageRow(BaseModel):
    """One group's figures (the keys it is grouped by are set, the others None)."""

    day: date | None = None
    user_id: int | None = None
    username: str | None = None
    model: str | None = None
    agent: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    model_seconds: float = 0.0
    model_calls: int = 0
    runs: int = 0
    tool_calls: int = 0


class UsageReport(BaseModel):
    """The groups, oldest day first, and the totals over the range."""

    from_: date = Field(serialization_alias="from")
    to: date
    group_by: list[GroupBy]
    data: list[UsageRow]
    count: int
    totals: UsageRow


def _day(column: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


def _keys(
    group_by: list[GroupBy], dialect: str, *, created: Any, user: Any, agent: Any, model: Any
) -> list[ColumnElement[Any]]:
    columns = {"day": created, "user": user, "model": model, "agent": agent}
    return [
        (_day(created, dialect) if key == "day" else columns[key]).label(key) for key in group_by
    ]


async def usage_report(
    db: AsyncSession,
    *,
    start: date,
    end: date,
    group_by: list[GroupBy],
    user_id: int | None,
) -> UsageReport:
    """The figures of `user_id` (None: everyone) from `start` to `end`, both included."""
    dialect = db.bind.dialect.name
    since = datetime.combine(start, time(), UTC)
    until = datetime.combine(end + timedelta(days=1), time(), UTC)
    rows: dict[tuple[Any, ...], UsageRow] = {}

    def row(values: tuple[Any, ...]) -> UsageRow:
        if values not in rows:
            fields: dict[str, Any] = {}
            for key, value in zip(group_by, values, strict=True):
                fields["user_id" if key == "user" else key] = value
            rows[values] = UsageRow(**fields)
        return rows[values]

    mu = ModelUsage
    keys = _keys(
        group_by, dialect, created=mu.created_at, user=mu.user_id, agent=mu.agent, model=mu.model
    )
    in_range = [mu.created_at >= since, mu.created_at < until]
    if user_id is not None:
        in_range.append(mu.user_id == user_id)
    tokens = select(
        *keys,
        func.sum(mu.tokens_in),
        func.sum(mu.tokens_out),
        func.sum(mu.seconds),
        func.count(),
        func.count(distinct(mu.run_id)),
    ).where(*in_range)
    for values in await db.execute(tokens.group_by(*keys) if keys else tokens):
        n = len(keys)
        found = row(tuple(values[:n]))
        found.tokens_in, found.tokens_out = int(values[n] or 0), int(values[n + 1] or 0)
        found.model_seconds = round(float(values[n + 2] or 0.0), 3)
        found.model_calls = int(values[n + 3] or 0)
        if "model" in group_by:  # the runs that called this model
            found.runs = int(values[n + 4] or 0)

    tc = ToolCallRecord
    if "model" in group_by:
        # Tool calls of the runs that called each model (a run of two models counts twice).
        pairs = (
            select(mu.run_id, mu.model, mu.user_id, mu.agent).where(*in_range).distinct().subquery()
        )
        keys = _keys(
            group_by,
            dialect,
            created=tc.created_at,
            user=pairs.c.user_id,
            agent=pairs.c.agent,
            model=pairs.c.model,
        )
        calls = (
            select(*keys, func.count())
            .select_from(tc)
            .join(pairs, pairs.c.run_id == tc.run_id)
            .where(tc.created_at >= since, tc.created_at < until)
        )
    else:
        keys = _keys(
            group_by, dialect, created=Run.created_at, user=Run.user_id, agent=Run.agent, model=None
        )
        runs = select(*keys, func.count()).where(Run.created_at >= since, Run.created_at < until)
        if user_id is not None:
            runs = runs.where(Run.user_id == user_id)
        for values in await db.execute(runs.group_by(*keys) if keys else runs):
            row(tuple(values[:-1])).runs = int(values[-1] or 0)
        keys = _keys(
            group_by, dialect, created=tc.created_at, user=tc.user_id, agent=Run.agent, model=None
        )
        calls = (
            select(*keys, func.count())
            .select_from(tc)
            .join(Run, Run.id == tc.run_id)
            .where(tc.created_at >= since, tc.created_at < until)
        )
    if user_id is not None:
        calls = calls.where(tc.user_id == user_id)
    for values in await db.execute(calls.group_by(*keys) if keys else calls):
        row(tuple(values[:-1])).tool_calls = int(values[-1] or 0)

    data = [r for r in rows.values() if _any(r)] if group_by else list(rows.values())
    if "user" in group_by:
        ids = {r.user_id for r in data}
        names = dict(
            (await db.execute(select(User.id, User.username).where(User.id.in_(ids)))).all()
        )
        for r in data:
            r.username = names.get(r.user_id)
    data.sort(key=_order)
    totals = UsageRow(
        tokens_in=sum(r.tokens_in for r in data),
        tokens_out=sum(r.tokens_out for r in data),
        model_seconds=round(sum(r.model_seconds for r in data), 3),
        model_calls=sum(r.model_calls for r in data),
        runs=sum(r.runs for r in data),
        tool_calls=sum(r.tool_calls for r in data),
    )
    if not group_by:
        data = [totals]
    return UsageReport(
        from_=start, to=end, group_by=group_by, data=data, count=len(data), totals=totals
    )


class StatusCount(BaseModel):
    """How many runs ended in (or are in) one status."""

    status: str
    runs: int


class RunsByStatus(BaseModel):
    """Runs created from `from` to `to` (UTC days, both included), by status, most first."""

    from_: date = Field(serialization_alias="from")
    to: date
    data: list[StatusCount]
    count: int
    total: int


async def runs_by_status(
    db: AsyncSession, *, start: date, end: date, user_id: int | None
) -> RunsByStatus:
    """How many runs of `user_id` (None: everyone) are in each status, one count query."""
    since = datetime.combine(start, time(), UTC)
    until = datetime.combine(end + timedelta(days=1), time(), UTC)
    query = select(Run.status, func.count()).where(Run.created_at >= since, Run.created_at < until)
    if user_id is not None:
        query = query.where(Run.user_id == user_id)
    found = [
        StatusCount(status=status, runs=int(n))
        for status, n in await db.execute(query.group_by(Run.status))
    ]
    found.sort(key=lambda c: (-c.runs, c.status))
    return RunsByStatus(
        from_=start, to=end, data=found, count=len(found), total=sum(c.runs for c in found)
    )


def _any(r: UsageRow) -> bool:
    return bool(r.tokens_in or r.tokens_out or r.model_calls or r.runs or r.tool_calls)


def _order(r: UsageRow) -> tuple[Any, ...]:
    return (
        r.day or date.min,
        -(r.tokens_in + r.tokens_out),
        r.user_id or 0,
        r.model or "",
        r.agent or "",
    )
