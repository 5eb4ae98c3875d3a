"""Schedules (cron) and webhook triggers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from orchestrator.agents import AgentName
from orchestrator.schemas.conversations import ModelName
from orchestrator.schemas.runs import UserText

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
CronText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ZoneName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# run_once: a due time missed while nothing ran starts one run at start-up (the default);
# skip: it is dropped, and the schedule waits for its next due time.
Misfire = Literal["run_once", "skip"]


class ScheduleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    cron: CronText = Field(description="five fields: minute hour day-of-month month weekday")
    timezone: ZoneName = "UTC"
    goal: UserText
    agent: AgentName | None = None
    model: ModelName | None = None
    enabled: bool = True
    misfire: Misfire = "run_once"


class ScheduleUpdate(BaseModel):
    """Fields to change; a changed timetable (or re-enabling) recomputes `next_run_at`."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    cron: CronText | None = None
    timezone: ZoneName | None = None
    goal: UserText | None = None
    agent: AgentName | None = None
    model: ModelName | None = None
    enabled: bool | None = None
    misfire: Misfire | None = None


class ScheduleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    cron: str
    timezone: str
    goal: str
    agent: str
    model: str | None
    enabled: bool
    misfire: Misfire
    next_run_at: datetime | None
    last_run_id: str | None
    created_at: datetime
    updated_at: datetime


TemplateText = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]


class TriggerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    goal_template: TemplateText = Field(description="the run's goal; {body} is the request body")
    agent: AgentName | None = None
    model: ModelName | None = None
    enabled: bool = True


class TriggerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    goal_template: TemplateText | None = None
    agent: AgentName | None = None
    model: ModelName | None = None
    enabled: bool | None = None


class TriggerOut(BaseModel):
    id: str
    name: str
    agent: str
    model: str | None
    goal_template: str
    enabled: bool
    url: str  # where to POST
    last_run_id: str | None
    created_at: datetime
    secret: str | None = None  # only in the answer that created the trigger


class HookAccepted(BaseModel):
    run_id: str
