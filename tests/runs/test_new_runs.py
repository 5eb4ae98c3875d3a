"""A run this process has just stored is executed without reading back what it knows.

The executor takes a new run's lease in the run's own INSERT (`RunExecutor.reserve`), so
the run needs no claim of its own, no reload, no lease check before its writer opens and
no search for its last event or its children. A run resumed after a restart still does
all of that.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.db.models import Run, utcnow
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.runs.executor import InProcessExecutor
from orchestrator.runs.processor import RunProcessor
from tests.api.test_runs import wait_for_status
from tests.conftest import Api, scripted_gateway
from tests.runs.test_cancel import insert_run
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools

CLAIM = "UPDATE runs SET lease_owner=?, lease_expires_at=?"
LEASE_CHECK = "UPDATE runs SET lease_owner=? WHERE runs.id = ? AND runs.lease_owner = ?"
LAST_EVENT = "SELECT max(run_events.seq)"
CHILDREN = "runs.parent_run_id = ?"


@pytest.fixture
def statements() -> Iterator[list[tuple[str, str]]]:
    """(thread name, SQL) of every statement any engine of this process runs."""
    seen: list[tuple[str, str]] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append((threading.current_thread().name, " ".join(statement.split())))

    sa_event.listen(Engine, "before_cursor_execute", before)
    yield seen
    sa_event.remove(Engine, "before_cursor_execute", before)


def run_reads(statements: list[tuple[str, str]]) -> list[str]:
    """The statements that read a run's row whole by its id (a reload)."""
    return [
        sql
        for _, sql in statements
        if sql.startswith("SELECT runs.id, runs.user_id") and sql.endswith("WHERE runs.id = ?")
    ]


def test_a_chat_turns_writes_are_two_hand_offs_to_the_writing_thread(
    chat_api: Api, model: ScriptedModelServer, statements: list[tuple[str, str]]
) -> None:
    """On SQLite the turn's start (admission, conversation, run, question) and its answer
    are each one transaction on the engine's writing thread (`db.session.transact`), not a
    trip to aiosqlite's thread per statement; the event log writes on its own thread."""
    user = chat_api.register()
    model.enqueue(text="first")
    first = chat_api.client.post("/chat", json={"message": "warm up"}, headers=user.headers)
    model.enqueue(text="Hello there")
    statements.clear()
    conversation = first.json()["conversation_id"]
    answer = chat_api.client.post(
        "/chat",
        json={"message": "Say hello", "conversation_id": conversation},
        headers=user.headers,
    )
    assert answer.json()["content"] == "Hello there"
    writes = [(t, s) for t, s in statements if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    assert {t for t, _ in writes} <= {"db-writer", "event-log"}
    turn = [s.split(" (")[0].split(" SET")[0] for t, s in writes if t == "db-writer"]
    assert turn == [
        "INSERT INTO runs",
        "INSERT INTO messages",
        "UPDATE conversations",  # the question ends the branch
        "INSERT INTO messages",
        "UPDATE conversations",  # and then the answer
    ]
    admission = [s for t, s in statements if t == "db-writer" and s.startswith("SELECT users.role")]
    assert len(admission) == 1  # the quota check is in the start's transaction


def test_a_new_chat_turn_is_claimed_in_its_insert_and_never_read_back(
    chat_api: Api, model: ScriptedModelServer, statements: list[tuple[str, str]]
) -> None:
    user = chat_api.register()
    model.enqueue(text="first")
    chat_api.client.post("/chat", json={"message": "warm up"}, headers=user.headers)
    model.enqueue(text="Hello there")
    statements.clear()
    answer = chat_api.client.post("/chat", json={"message": "Say hello"}, headers=user.headers)
    assert answer.json()["content"] == "Hello there" and answer.json()["status"] == "succeeded"
    sql = [s for _, s in statements]
    insert = next(s for s in sql if s.startswith("INSERT INTO runs "))
    assert "lease_owner" in insert and "lease_expires_at" in insert
    assert not [s for s in sql if s.startswith((CLAIM, LEASE_CHECK, LAST_EVENT))]
    assert not [s for s in sql if CHILDREN in s]
    assert run_reads(statements) == []
    run = chat_api.client.get(f"/runs/{answer.json()['run_id']}", headers=user.headers).json()
    assert run["status"] == "succeeded" and run["finished_at"]
    # the lease ended with the run: a restart has nothing to resume
    assert run.get("lease_owner") is None


class Recorded:
    """A processor double that records how each run was handed to it."""

    def __init__(self) -> None:
        self.handed: list[tuple[str, Run | None]] = []
        self.cancel_requested: set[str] = set()
        self.done = asyncio.Event()

    async def execute(self, run_id: str, *, new: Run | None = None) -> None:
        self.handed.append((run_id, new))
        self.done.set()


def submit_new(
    settings: Settings, user_id: int, *, stored_seconds_ago: float
) -> tuple[list[tuple[str, Run | None]], list[str], str]:
    """Store a run reserved by an executor (`stored_seconds_ago` as if stored that long
    ago), submit it with its row: (what the processor got, the statements, the run id)."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    async def scenario() -> tuple[list[tuple[str, Run | None]], str]:
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        processor = Recorded()
        executor = InProcessExecutor(cast(RunProcessor, processor), sessions, lease_seconds=30)
        sa_event.listen(Engine, "before_cursor_execute", before)
        try:
            async with sessions() as db:
                run = Run(user_id=user_id, kind="task", goal="new")
                executor.reserve(run)
                assert run.lease_expires_at is not None
                run.lease_expires_at -= timedelta(seconds=stored_seconds_ago)
                db.add(run)
                await db.commit()
            seen.clear()
            await executor.submit(run.id, run)
            await asyncio.wait_for(processor.done.wait(), 10)
            return processor.handed, run.id
        finally:
            sa_event.remove(Engine, "before_cursor_execute", before)
            await executor.stop()
            await engine.dispose()

    handed, run_id = asyncio.run(scenario())
    return handed, seen, run_id


def test_a_reserved_run_executes_with_its_row_and_no_claim(api: Api, settings: Settings) -> None:
    user = api.register()
    handed, seen, run_id = submit_new(settings, user.id, stored_seconds_ago=0)
    assert [(r, new is not None and new.id) for r, new in handed] == [(run_id, run_id)]
    assert not [s for s in seen if s.startswith(CLAIM)]


def test_a_reservation_near_its_expiry_is_claimed_again_and_the_run_read(
    api: Api, settings: Settings
) -> None:
    # Past half its lease, another process's clock may already see it expired: claim it.
    user = api.register()
    handed, seen, run_id = submit_new(settings, user.id, stored_seconds_ago=20)
    assert handed == [(run_id, None)]
    assert [s for s in seen if s.startswith(CLAIM)]


def test_a_resumed_run_still_ends_the_children_a_restart_left_behind(
    settings: Settings, model: ScriptedModelServer
) -> None:
    settings = settings.model_copy(update={"ollama_url": model.url})
    app = create_app(settings, models=scripted_gateway(settings, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        user = api.register()
    long_ago = utcnow() - timedelta(minutes=5)
    dead = {"lease_owner": "gone:1:dead", "lease_expires_at": long_ago, "started_at": long_ago}
    parent = insert_run(settings, user.id, status="running", **dead)
    child = insert_run(settings, user.id, status="running", parent_run_id=parent, **dead)
    model.enqueue(text="done after the restart")
    app = create_app(settings, models=scripted_gateway(settings, model), tools=sample_tools())
    with serve_in_thread(app) as url:  # its start-up sweep resumes the parent only
        api = Api(url)
        assert wait_for_status(api, parent, user.headers, "succeeded", "failed")["status"] == (
            "succeeded"
        )
        ended = wait_for_status(api, child, user.headers, "cancelled", "succeeded", "failed")
        api.client.close()
    assert ended["status"] == "cancelled"


def test_a_new_task_run_is_claimed_in_its_insert_too(
    chat_api: Api, model: ScriptedModelServer, statements: list[tuple[str, str]]
) -> None:
    user = chat_api.register()
    model.enqueue(text="done")
    created = chat_api.client.post(
        "/runs", json={"goal": "say done", "agent": "assistant"}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    run = wait_for_status(chat_api, created.json()["id"], user.headers, "succeeded", "failed")
    assert run["status"] == "succeeded" and run["result"] == "done"
    sql = [s for _, s in statements]
    assert not [s for s in sql if s.startswith((CLAIM, LEASE_CHECK, LAST_EVENT))]
    assert run_reads(statements) == []
