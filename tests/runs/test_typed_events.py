"""Typed run events: every payload model has its envelope in `RunEventOut`, each event
round-trips through the log (SQLite) and its JSON unchanged, and an unknown type, or a
payload that is no event, is refused where it would enter."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import get_args

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.core.config import Settings
from orchestrator.db.models import Run
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.engine.events import (
    EVENT_TYPES,
    RUN_EVENT,
    ApprovalRequiredData,
    CompleteData,
    ErrorData,
    Payload,
    PhaseData,
    RunEventOut,
    StatusData,
    StepData,
    TaintSource,
    ThinkingData,
    TokenData,
    ToolData,
    Usage,
    UsageData,
    parse_event,
    parse_event_json,
)
from orchestrator.runs.bus import EventBus
from orchestrator.runs.log import RunChanges, RunEventLog
from orchestrator.schemas.runs import RunOut, ServerMessage, SocketError
from orchestrator.services.accounts import create_user

# One payload of each event type, with every optional part filled in.
SAMPLES: list[Payload] = [
    TokenData(text="Hel"),
    UsageData(model="scripted", prompt_tokens=12, completion_tokens=3, seconds=0.25),
    ThinkingData(text="first, the file"),
    ToolData(call_id="c1", name="write_file", params={"path": "a.txt"}, status="started"),
    ToolData(
        call_id="c1", name="write_file", status="finished", result="wrote 2 bytes", duration_ms=3.5
    ),
    ApprovalRequiredData(
        approval_id="ap1",
        call_id="c2",
        tool="execute_command",
        params={"command": "ls"},
        risk="exec",
        tainted_by=TaintSource(tool="http_request", source="http://127.0.0.1/page"),
    ),
    PhaseData(phase="plan", status="finished", output={"steps": [{"title": "t"}]}),
    StepData(index=1, title="write it", status="finished", result="done"),
    StatusData(status="waiting", reason="approval for execute_command"),
    ErrorData(message="the run went over its time budget", code="time_budget"),
    CompleteData(
        status="succeeded",
        content="Hello",
        run_id="r",
        conversation_id="conv",
        message_id=7,
        tools_used=["write_file"],
        usage=Usage(prompt_tokens=10, completion_tokens=2),
        citations=[{"n": 1, "document_id": "d", "filename": "f.md", "chunk_id": "c"}],
    ),
]


def _payload_models(base: type[BaseModel] = Payload) -> set[type[BaseModel]]:
    found: set[type[BaseModel]] = set()
    for cls in base.__subclasses__():
        found |= {cls} | _payload_models(cls)
    return found


def test_every_payload_with_a_type_is_in_the_union_once() -> None:
    members = get_args(get_args(RunEventOut)[0])
    by_type = {m.model_fields["type"].annotation.__args__[0]: m for m in members}
    assert len(by_type) == len(members)  # no type twice
    for payload in _payload_models():
        if "type" not in payload.model_fields:  # parts of payloads (Usage, TaintSource)
            continue
        kind = payload.model_fields["type"].default
        assert kind in by_type, f"{payload.__name__} has no envelope in RunEventOut"
        assert by_type[kind].model_fields["data"].annotation is payload
        assert EVENT_TYPES[kind] is by_type[kind]
    assert {type(s).model_fields["type"].default for s in SAMPLES} == set(by_type)


Logged = tuple[RunEventLog, str, async_sessionmaker[AsyncSession]]


@pytest.fixture
async def event_log(settings: Settings) -> AsyncIterator[Logged]:
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    async with sessions() as db:
        user = await create_user(db, "typed", "password-1")
        run = Run(user_id=user.id, kind="task", goal="g", agent="assistant")
        db.add(run)
        await db.commit()
        run_id = run.id
    yield RunEventLog(sessions, EventBus()), run_id, sessions
    await engine.dispose()


async def test_each_event_type_round_trips_through_the_log_and_its_json(event_log: Logged) -> None:
    log, run_id, sessions = event_log
    writer = await log.open(run_id)
    emitted = [await writer.emit(sample) for sample in SAMPLES]
    await writer.close()

    stored = await log.read(run_id)
    assert stored == emitted
    for event, sample in zip(stored, SAMPLES, strict=True):
        assert isinstance(event, EVENT_TYPES[event.type])
        assert event.data == sample
        wire = json.loads(RUN_EVENT.dump_json(event))
        assert set(wire) == {"type", "data", "timestamp", "run_id", "seq"}
        assert wire["data"] == sample.model_dump(mode="json")  # `type` stays out of `data`
        assert parse_event(wire) == event
        assert parse_event_json(RUN_EVENT.dump_json(event)) == event
    assert [e.seq for e in stored] == list(range(1, len(SAMPLES) + 1))
    async with sessions() as db:
        assert (await db.get(Run, run_id)).last_seq == len(SAMPLES)


async def test_run_changes_write_only_the_columns_given(event_log: Logged) -> None:
    log, run_id, sessions = event_log
    writer = await log.open(run_id)
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    await writer.emit(
        StatusData(status="running"), RunChanges(status="running", started_at=started)
    )
    await writer.emit(PhaseData(phase="spec", status="started"), RunChanges(phase="spec"))
    async with sessions() as db:
        run = await db.get(Run, run_id)
        assert (run.status, run.phase, run.started_at, run.last_seq) == (
            "running",
            "spec",
            started,
            2,
        )
    await writer.emit(
        CompleteData(status="failed", content="", run_id=run_id),
        RunChanges(status="failed", error=None, lease_owner=None),
    )
    await writer.close()
    async with sessions() as db:
        run = await db.get(Run, run_id)
        assert (run.status, run.phase, run.started_at) == ("failed", "spec", started)
        out = RunOut.model_validate(run)
        assert out.status == "failed" and out.kind == "task"
    assert RunChanges(status="running").columns() == {"status": "running"}
    assert RunChanges(lease_owner=None).columns() == {"lease_owner": None}
    with pytest.raises(ValidationError):
        RunChanges(status="finished")  # type: ignore[arg-type]  # not a run status
    with pytest.raises(ValidationError):
        RunChanges(finished_at=datetime(2026, 1, 2))  # naive: the database refuses those
    with pytest.raises(ValidationError):
        RunChanges(colour="red")  # type: ignore[call-arg]  # not a column


async def test_a_payload_that_is_no_event_is_refused_before_it_is_logged(event_log: Logged) -> None:
    log, run_id, _ = event_log
    writer = await log.open(run_id)
    for wrong in (Usage(prompt_tokens=1), TaintSource(tool="web_read")):
        with pytest.raises(ValueError, match="not a run event payload"):
            await writer.emit(wrong)
    await writer.emit(TokenData(text="still fine"))
    await writer.close()
    assert [(e.type, e.seq) for e in await log.read(run_id)] == [("token", 1)]


@pytest.mark.parametrize(
    "wire",
    [
        {"type": "bogus", "data": {}, "run_id": "r", "seq": 1},
        {"type": "token", "data": {"content": "a guess"}, "run_id": "r", "seq": 1},
        {"type": "tool", "data": {"name": "x", "status": "running"}, "run_id": "r", "seq": 1},
        {"type": "complete", "data": {"status": "done", "content": ""}, "run_id": "r", "seq": 1},
        {"data": {"text": "no type"}, "run_id": "r", "seq": 1},
    ],
)
def test_an_unknown_or_malformed_event_is_refused(wire: dict[str, object]) -> None:
    wire = {**wire, "timestamp": datetime.now(UTC).isoformat()}
    with pytest.raises(ValidationError):
        parse_event(wire)
    with pytest.raises(ValidationError):
        parse_event_json(json.dumps(wire))
    with pytest.raises(ValidationError):
        TypeAdapter(ServerMessage).validate_python(wire)


def test_a_socket_error_is_an_error_without_a_seq() -> None:
    error = SocketError(
        data=ErrorData(message="bad", code="invalid_message"), timestamp=datetime.now(UTC)
    )
    wire = json.loads(error.model_dump_json())
    assert wire["type"] == "error" and wire["seq"] is None and wire["run_id"] is None
    assert TypeAdapter(ServerMessage).validate_python(wire) == error
