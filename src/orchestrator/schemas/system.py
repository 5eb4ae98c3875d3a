"""Health and machine statistics."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: str


class ResourceUsage(BaseModel):
    cpu_percent: float
    cpu_count: int
    memory_total: int
    memory_used: int
    memory_percent: float
    disk_total: int
    disk_used: int
    disk_percent: float
    process_rss: int


class Counts(BaseModel):
    conversations: int
    messages: int
    runs: int
    users: int | None = None  # admins only


class StatsOut(BaseModel):
    uptime_seconds: float
    system: ResourceUsage
    counts: Counts
