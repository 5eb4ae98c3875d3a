"""Run events: what a run's log stores and what the WebSocket sends.

Each event is `{"type", "data", "timestamp", "run_id", "seq"}`; `data` is one of the
payload models below, chosen by `type`. `RunEventOut` is the discriminated union of the
envelopes (one per type), so every edge (the log, the bus, the API, the sockets, the web
app's generated types) sees typed events and refuses a type it does not know.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

ToolStatus = Literal["started", "finished", "denied", "failed"]
PhaseName = Literal["spec", "plan", "execute", "verify", "repair"]
RunStatus = Literal["queued", "running", "waiting", "succeeded", "failed", "cancelled"]
RunKind = Literal["chat", "task", "workflow", "tool"]
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class Payload(BaseModel):
    """An event's `data`. Fields with defaults are always sent, so the schema of what is
    sent marks them required (the generated TypeScript types then need no `?`)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class TokenData(Payload):
    type: Literal["token"] = Field("token", exclude=True)
    text: str


class ThinkingData(Payload):
    type: Literal["thinking"] = Field("thinking", exclude=True)
    text: str


class ToolData(Payload):
    type: Literal["tool"] = Field("tool", exclude=True)
    call_id: str
    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    status: ToolStatus
    result: str | None = None
    duration_ms: float | None = None
    # A result recorded before a restart, handed back to the engine but not logged again.
    replayed: bool = Field(False, exclude=True)


class TaintSource(Payload):
    """The untrusted content that tainted a run: the call that brought it in."""

    tool: str
    source: str | None = None  # its URL, file or query, when the call named one


class ApprovalRequiredData(Payload):
    type: Literal["approval_required"] = Field("approval_required", exclude=True)
    approval_id: str
    call_id: str
    tool: str
    params: dict[str, Any] = Field(default_factory=dict)
    risk: str
    # Set when the call waits because the run read untrusted content, not by policy.
    tainted_by: TaintSource | None = None


class PhaseData(Payload):
    type: Literal["phase"] = Field("phase", exclude=True)
    phase: PhaseName
    status: Literal["started", "finished"]
    output: Any = None


class StepData(Payload):
    """A workflow step began or ended (EXECUTE phase)."""

    type: Literal["step"] = Field("step", exclude=True)
    index: int  # 1-based
    title: str
    status: Literal["started", "finished", "failed"]
    result: str | None = None


class StatusData(Payload):
    """The run's status changed (queued, running, waiting...)."""

    type: Literal["status"] = Field("status", exclude=True)
    status: RunStatus
    reason: str | None = None


class ErrorData(Payload):
    type: Literal["error"] = Field("error", exclude=True)
    message: str
    code: str
    reset_at: str | None = None  # quota_exceeded: when the quota frees (ISO time), if it does


class Usage(Payload):
    """Tokens a run's model calls read and wrote, as the model servers reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class UsageData(Payload):
    """One model call ended: its tokens in and out and its seconds (the run's usage
    accounting is written with this event, in the same transaction)."""

    type: Literal["usage"] = Field("usage", exclude=True)
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    first_token_seconds: float | None = None  # None: the call streamed nothing


class Citation(Payload):
    """A passage an answer cites as `[n]` (the knowledge base's `Citation`, as sent)."""

    n: int
    document_id: str
    filename: str
    chunk_id: str
    page: int | None = None
    collection_id: str | None = None
    heading: str | None = None
    text: str = ""


class CompleteData(Payload):
    type: Literal["complete"] = Field("complete", exclude=True)
    status: RunStatus
    content: str
    run_id: str
    conversation_id: str | None = None
    message_id: int | None = None
    tools_used: list[str] = Field(default_factory=list)
    usage: Usage | None = None  # None: not counted (a workflow, a cancelled run)
    citations: list[Citation] = Field(default_factory=list)  # passages cited as [n]


EventData = Annotated[
    TokenData
    | ThinkingData
    | ToolData
    | ApprovalRequiredData
    | PhaseData
    | StepData
    | StatusData
    | ErrorData
    | UsageData
    | CompleteData,
    Field(discriminator="type"),
]


class Event(BaseModel):
    """The envelope every event shares; the subclasses below fix `type` and `data`."""

    type: str
    data: Payload
    timestamp: datetime
    run_id: str
    seq: int


class TokenEvent(Event):
    type: Literal["token"]
    data: TokenData


class ThinkingEvent(Event):
    type: Literal["thinking"]
    data: ThinkingData


class ToolEvent(Event):
    type: Literal["tool"]
    data: ToolData


class ApprovalRequiredEvent(Event):
    type: Literal["approval_required"]
    data: ApprovalRequiredData


class PhaseEvent(Event):
    type: Literal["phase"]
    data: PhaseData


class StepEvent(Event):
    type: Literal["step"]
    data: StepData


class StatusEvent(Event):
    type: Literal["status"]
    data: StatusData


class ErrorEvent(Event):
    type: Literal["error"]
    data: ErrorData


class UsageEvent(Event):
    type: Literal["usage"]
    data: UsageData


class CompleteEvent(Event):
    type: Literal["complete"]
    data: CompleteData


RunEventOut = Annotated[
    TokenEvent
    | ThinkingEvent
    | ToolEvent
    | ApprovalRequiredEvent
    | PhaseEvent
    | StepEvent
    | StatusEvent
    | ErrorEvent
    | UsageEvent
    | CompleteEvent,
    Field(discriminator="type"),
]
"""One event as stored and sent."""

RUN_EVENT: TypeAdapter[RunEventOut] = TypeAdapter(RunEventOut)
EVENT_TYPES: dict[str, type[Event]] = {
    cls.model_fields["type"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in Event.__subclasses__()
}


def event_type(data: BaseModel) -> str:
    """The `type` of a payload model."""
    value: str = type(data).model_fields["type"].default
    return value


def _envelope_of(payload: type[BaseModel]) -> tuple[str, type[Event]] | None:
    """The `type` and envelope of a payload class, or None if it is no event's payload."""
    field = payload.model_fields.get("type")
    envelope = EVENT_TYPES.get(field.default) if field is not None else None
    if envelope is None or not issubclass(payload, envelope.model_fields["data"].annotation):  # type: ignore[arg-type]
        return None
    return field.default, envelope  # type: ignore[union-attr]


# Payload class -> (type, envelope): emitting is the hot path of every run.
_ENVELOPES: dict[type[BaseModel], tuple[str, type[Event]] | None] = {}


def make_event(data: Payload, *, run_id: str, seq: int, timestamp: datetime) -> RunEventOut:
    """The envelope of a payload; a payload that is no event type raises ValueError.

    Built without validation: `data` is a validated payload of the envelope's type (checked
    here, once per payload class), and the log makes `run_id`, `seq` and `timestamp`."""
    payload = type(data)
    try:
        known = _ENVELOPES[payload]
    except KeyError:
        known = _ENVELOPES[payload] = _envelope_of(payload)
    if known is None:
        raise ValueError(f"{payload.__name__} is not a run event payload")
    kind, envelope = known
    event: RunEventOut = envelope.model_construct(  # type: ignore[assignment]
        type=kind, data=data, timestamp=timestamp, run_id=run_id, seq=seq
    )
    return event


def parse_event(value: object) -> RunEventOut:
    """An event from its JSON form (a dict); an unknown `type` raises ValidationError."""
    return RUN_EVENT.validate_python(value)


def parse_event_json(raw: str | bytes) -> RunEventOut:
    """An event from JSON text; an unknown `type` raises ValidationError."""
    return RUN_EVENT.validate_json(raw)
