"""Quotas as the API reads and writes them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class QuotaIn(BaseModel):
    """An admin's quota for one user; a field left out or null falls back to the role's
    setting (QUOTA_TOKENS_PER_DAY, QUOTA_RUNS_PER_DAY, QUOTA_CONCURRENT_RUNS for `user`)."""

    model_config = ConfigDict(extra="forbid")

    tokens_per_day: int | None = Field(None, ge=0, le=2**62)
    runs_per_day: int | None = Field(None, ge=0, le=2**31 - 1)
    concurrent_runs: int | None = Field(None, ge=0, le=2**31 - 1)


class QuotaValues(BaseModel):
    tokens_per_day: int | None = None
    runs_per_day: int | None = None
    concurrent_runs: int | None = None


class QuotaOut(QuotaValues):
    """The user's own quota (null: the role's), and the limits in force (null: none)."""

    user_id: int
    effective: QuotaValues


class QuotaUseOut(BaseModel):
    """What the caller used today against the limits in force; `reset_at`: when the daily
    counts start again (UTC midnight)."""

    limits: QuotaValues
    tokens_today: int
    runs_today: int
    active_runs: int
    reset_at: datetime
