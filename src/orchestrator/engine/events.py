"""Run events: what a run's log stores and what the WebSocket sends.

Each event is `{"type", "data", "timestamp", "run_id", "seq"}`; `data` is one of the
payload models below, chosen by `type`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

ToolStatus = Literal["started", "finished", "denied", "failed"]
PhaseName = Literal["spec", "plan", "execute", "verify", "repair"]
RunStatus = Literal["queued", "running", "waiting", "succeeded", "failed", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class TokenData(BaseModel):
    type: Literal["token"] = Field("token", exclude=True)
    text: str


class ThinkingData(BaseModel):
    type: Literal["thinking"] = Field("thinking", exclude=True)
    text: str


class ToolData(BaseModel):
    type: Literal["tool"] = Field("tool", exclude=True)
    call_id: str
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    status: ToolStatus
    result: str | None = None
    duration_ms: float | None = None
    # A result recorded before a restart, handed back to the engine but not logged again.
    replayed: bool = Field(False, exclude=True)


class TaintSource(BaseModel):
    """The untrusted content that tainted a run: the call that brought it in."""

    tool: str
    source: str | None = None  # its URL, file or query, when the call named one


class ApprovalRequiredData(BaseModel):
    type: Literal["approval_required"] = Field("approval_required", exclude=True)
    approval_id: str
    call_id: str
    tool: str
    params: dict[str, Any] = Field(default_factory=dict)
    risk: str
    # Set when the call waits because the run read untrusted content, not by policy.
    tainted_by: TaintSource | None = None


class PhaseData(BaseModel):
    type: Literal["phase"] = Field("phase", exclude=True)
    phase: PhaseName
    status: Literal["started", "finished"]
    output: Any = None


class StepData(BaseModel):
    """A workflow step began or ended (EXECUTE phase)."""

    type: Literal["step"] = Field("step", exclude=True)
    index: int  # 1-based
    title: str
    status: Literal["started", "finished", "failed"]
    result: str | None = None


class StatusData(BaseModel):
    """The run's status changed (queued, running, waiting...)."""

    type: Literal["status"] = Field("status", exclude=True)
    status: RunStatus
    reason: str | None = None


class ErrorData(BaseModel):
    type: Literal["error"] = Field("error", exclude=True)
    message: str
    code: str


class Usage(BaseModel):
    """Tokens a run's model calls read and wrote, as the model servers reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class CompleteData(BaseModel):
    type: Literal["complete"] = Field("complete", exclude=True)
    status: RunStatus
    content: str
    run_id: str
    conversation_id: str | None = None
    message_id: int | None = None
    tools_used: list[str] = Field(default_factory=list)
    usage: Usage | None = None  # None: not counted (a workflow, a cancelled run)
    # Passages the answer cites as [n]: {n, document_id, filename, chunk_id, page?, ...}
    citations: list[dict[str, Any]] = Field(default_factory=list)


EventData = Annotated[
    TokenData
    | ThinkingData
    | ToolData
    | ApprovalRequiredData
    | PhaseData
    | StepData
    | StatusData
    | ErrorData
    | CompleteData,
    Field(discriminator="type"),
]


class RunEventOut(BaseModel):
    """One event as stored and sent."""

    type: str
    data: dict[str, Any]
    timestamp: datetime
    run_id: str
    seq: int


def event_type(data: BaseModel) -> str:
    """The `type` of a payload model."""
    value: str = type(data).model_fields["type"].default
    return value
