"""Tools, their statistics and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from orchestrator.services.tool_stats import ToolStats


class ToolOut(BaseModel):
    name: str
    description: str
    category: str
    risk: str
    enabled: bool
    requires_approval: bool
    parameters: dict[str, Any]
    stats: ToolStats


class ToolUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool


class ToolCallOut(BaseModel):
    """One audit record: who ran what, when, with which decision and outcome."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    run_id: str | None
    user_id: int
    tool: str
    arguments: dict[str, Any]
    status: str
    decision: str
    result: str | None
    duration_ms: float | None
    created_at: datetime
    finished_at: datetime | None
