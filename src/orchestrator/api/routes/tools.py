"""The tool catalogue with usage statistics; admins enable tools and read the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from sqlalchemy import func, select

from orchestrator.api.deps import AdminUser, CurrentUser, RuntimeDep, SessionDep
from orchestrator.api.routing import ApiRouter
from orchestrator.db.models import ToolCallRecord
from orchestrator.schemas.common import MAX_DB_INT, Offset, Page
from orchestrator.schemas.tools import ToolCallOut, ToolOut, ToolUpdate
from orchestrator.services import tool_stats
from orchestrator.tools.base import Tool

router = ApiRouter(prefix="/tools", tags=["tools"])


def _out(
    tool: Tool, runtime: RuntimeDep, disabled: set[str], stats: tool_stats.ToolStats
) -> ToolOut:
    return ToolOut(
        name=tool.name,
        description=tool.description,
        category=tool.category,
        risk=tool.risk.value,
        enabled=tool.name not in disabled,
        requires_approval=tool.risk.value in runtime.settings.approval_risks,
        parameters=tool.parameters,
        stats=stats,
    )


@router.get("")
async def list_tools(_: CurrentUser, db: SessionDep, runtime: RuntimeDep) -> Page[ToolOut]:
    """Every registered tool with its schema, risk, state and usage statistics."""
    disabled = await tool_stats.disabled_tools(db)
    stats = await tool_stats.tool_stats(db)
    registry = await runtime.tool_registry()
    tools = [
        _out(t, runtime, disabled, stats.get(t.name, tool_stats.ToolStats())) for t in registry
    ]
    return Page(data=tools, count=len(tools))


@router.get("/audit")
async def audit_log(
    _: AdminUser,
    db: SessionDep,
    tool: Annotated[str | None, Query(max_length=64)] = None,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Page[ToolCallOut]:
    """Every tool call, newest first (admins)."""
    query = select(ToolCallRecord)
    if tool:
        query = query.where(ToolCallRecord.tool == tool)
    if user_id is not None:
        query = query.where(ToolCallRecord.user_id == user_id)
    total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await db.scalars(
        query.order_by(ToolCallRecord.created_at.desc()).limit(limit).offset(offset)
    )
    return Page(data=[ToolCallOut.model_validate(r) for r in rows], count=total)


@router.get("/{name}")
async def get_tool(name: str, _: CurrentUser, db: SessionDep, runtime: RuntimeDep) -> ToolOut:
    """One tool."""
    tool = (await runtime.tool_registry()).get(name)
    stats = await tool_stats.tool_stats(db, name)
    return _out(
        tool, runtime, await tool_stats.disabled_tools(db), stats.get(name, tool_stats.ToolStats())
    )


@router.patch("/{name}")
async def update_tool(
    name: str, body: ToolUpdate, _: AdminUser, db: SessionDep, runtime: RuntimeDep
) -> ToolOut:
    """Enable or disable a tool for every agent (admins)."""
    tool = (await runtime.tool_registry()).get(name)
    await tool_stats.set_enabled(db, name, body.enabled)
    stats = await tool_stats.tool_stats(db, name)
    return _out(
        tool, runtime, await tool_stats.disabled_tools(db), stats.get(name, tool_stats.ToolStats())
    )
