"""Usage statistics of tools, from the recorded calls, and admins' enabled state."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.db.models import ToolCallRecord, ToolSetting, utcnow

SAMPLE = 5000  # latest calls per query that the statistics look at


class ToolStats(BaseModel):
    calls: int = 0
    failures: int = 0
    mean_ms: float | None = None
    p95_ms: float | None = None
    last_used: datetime | None = None


async def tool_stats(db: AsyncSession, tool: str | None = None) -> dict[str, ToolStats]:
    """Statistics per tool name over the latest finished calls."""
    query = select(
        ToolCallRecord.tool,
        ToolCallRecord.status,
        ToolCallRecord.duration_ms,
        ToolCallRecord.created_at,
    ).where(ToolCallRecord.status.in_(("finished", "failed")))
    if tool is not None:
        query = query.where(ToolCallRecord.tool == tool)
    rows = (await db.execute(query.order_by(ToolCallRecord.created_at.desc()).limit(SAMPLE))).all()
    durations: dict[str, list[float]] = defaultdict(list)
    stats: dict[str, ToolStats] = defaultdict(ToolStats)
    for name, status, duration, created in rows:
        entry = stats[name]
        entry.calls += 1
        entry.failures += status == "failed"
        entry.last_used = max(entry.last_used or created, created)
        if duration is not None:
            durations[name].append(duration)
    for name, values in durations.items():
        stats[name].mean_ms = round(statistics.fmean(values), 2)
        ordered = sorted(values)
        stats[name].p95_ms = round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 2)
    return dict(stats)


async def disabled_tools(db: AsyncSession) -> set[str]:
    return set(await db.scalars(select(ToolSetting.name).where(~ToolSetting.enabled)))


async def set_enabled(db: AsyncSession, name: str, enabled: bool) -> None:
    setting = await db.get(ToolSetting, name)
    if setting is None:
        db.add(ToolSetting(name=name, enabled=enabled))
    else:
        setting.enabled = enabled
        setting.updated_at = utcnow()
    await db.commit()
