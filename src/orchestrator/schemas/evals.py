"""Evaluation runs of the suite (`/models/evals`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class EvalRequest(BaseModel):
    """`POST /models/evals`: run the suite on a model."""

    model_config = ConfigDict(extra="forbid")

    model: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    retrieval: bool = True  # offer the nearest tools only (TOOL_RETRIEVAL_*)
    repair: bool = True  # mend near-miss tool names and arguments


class EvalOut(BaseModel):
    """A model's latest scores on one suite version; the rates are ratios from 0 to 1."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    model: str
    suite_version: str
    status: Literal["running", "succeeded", "failed"]
    retrieval: bool
    repair: bool
    tasks: int
    valid_calls: float | None
    right_tool: float | None
    right_args: float | None
    task_success: float | None
    tokens: int
    seconds: float
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None


class EvalDetail(EvalOut):
    """One evaluation with its per-task results."""

    results: list[dict[str, Any]] = Field(default_factory=list)
