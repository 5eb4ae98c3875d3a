"""Runs, chat requests and the WebSocket client messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from orchestrator.agents import AgentName
from orchestrator.engine.events import Citation, ErrorData, RunEventOut, RunKind, RunStatus
from orchestrator.schemas.conversations import ModelName

UserText = Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MessageId = Annotated[int, Field(ge=1, le=2**31 - 1)]  # messages.id is a 32-bit integer


class ChatRequest(BaseModel):
    """A user's message to an agent (HTTP body, or a WebSocket message)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["message"] = "message"
    message: UserText
    conversation_id: Id | None = None
    model: ModelName | None = None
    agent: AgentName | None = None
    # Workspace files handed over with the message (upload them first, e.g. to uploads/).
    attachments: list[Annotated[str, StringConstraints(min_length=1, max_length=4096)]] = Field(
        default_factory=list, max_length=10
    )
    knowledge: list[Id] | None = Field(None, max_length=20)  # knowledge collections to search
    # The message the new one goes below. Absent: the end of the active branch; an
    # explicit null (with a conversation_id): a new first message. See `parent_given`.
    parent_message_id: MessageId | None = None

    @property
    def parent_given(self) -> bool:
        """Whether the request named a parent (null included)."""
        return "parent_message_id" in self.model_fields_set


class CancelMessage(BaseModel):
    type: Literal["cancel"]
    run_id: Id


class ApprovalMessage(BaseModel):
    type: Literal["approval"]
    approval_id: Id
    decision: Literal["approve", "deny"]


class ResumeMessage(BaseModel):
    """Replay a run's events after `after`, then follow it live."""

    type: Literal["resume"]
    run_id: Id
    after: int = Field(0, ge=0)


class AuthMessage(BaseModel):
    type: Literal["auth"]
    token: Annotated[str, StringConstraints(max_length=4096)]


ClientMessage = Annotated[
    ChatRequest | CancelMessage | ApprovalMessage | ResumeMessage | AuthMessage,
    Field(discriminator="type"),
]


class SocketError(BaseModel):
    """An `error` a socket sends that belongs to no run's log (a bad message, a refused
    request): the shape of a run's `error` event, without a `seq`."""

    type: Literal["error"] = "error"
    data: ErrorData
    timestamp: datetime
    run_id: str | None = None
    seq: None = None

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


# What the sockets send: a run's events, and errors of their own.
ServerMessage = RunEventOut | SocketError


class ChatResponse(BaseModel):
    content: str
    status: RunStatus
    conversation_id: str
    message_id: int | None
    run_id: str
    tools_used: list[str]
    citations: list[Citation] = Field(default_factory=list)  # passages cited as [n]
    error: ErrorData | None = None  # a budget ran out: what was said is in `content`


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: UserText
    agent: AgentName | None = None
    model: ModelName | None = None


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: RunKind
    goal: str
    agent: str
    model: str | None
    status: RunStatus
    phase: str | None
    result: str | None
    error: str | None
    conversation_id: str | None
    parent_run_id: str | None
    last_seq: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested_at: datetime | None = None  # a cancel is stored; the run ends soon


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "deny"]


class ApprovalOut(BaseModel):
    approval_id: str
    status: Literal["approved", "denied"]
