"""Group commit of run events, on SQLite and Postgres: many runs' writes share
transactions, yet each run's seqs stay gapless, an event is published only once stored,
a write whose lease is lost is dropped alone, and a write the database refuses fails its
own writer and no other. On a SQLite file a batch is written in the log's own thread, and
a writer learns what became of its events even if the batch's task is cancelled."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestrator.core.config import Settings
from orchestrator.db.models import ModelUsage, Run, RunEvent
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.engine.events import (
    CompleteData,
    StatusData,
    TokenData,
    ToolData,
    UsageData,
)
from orchestrator.runs.bus import EventBus
from orchestrator.runs.group_commit import EventWriteFailed
from orchestrator.runs.lease import Lease, LeaseLost
from orchestrator.runs.log import RunChanges, RunEventLog
from orchestrator.services.accounts import create_user

RUNS = 50
DURABLE = 12  # per run, with tokens between them


@dataclass
class Db:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    user_id: int

    async def runs(self, count: int, lease_owner: str | None = None) -> list[str]:
        async with self.sessions() as db:
            runs = [
                Run(user_id=self.user_id, kind="task", goal="g", lease_owner=lease_owner)
                for _ in range(count)
            ]
            db.add_all(runs)
            await db.commit()
            return [run.id for run in runs]

    async def stored(self, run_id: str) -> list[int]:
        async with self.sessions() as db:
            return list(
                await db.scalars(
                    select(RunEvent.seq).where(RunEvent.run_id == run_id).order_by(RunEvent.seq)
                )
            )


async def _database(settings: Settings) -> Db:
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    async with sessions() as db:
        user = await create_user(db, "grouped", "password-1")
        return Db(engine, sessions, user.id)


@pytest.fixture
async def database(any_db_settings: Settings) -> AsyncIterator[Db]:
    database = await _database(any_db_settings)
    yield database
    await database.engine.dispose()


@pytest.fixture
async def sqlite_database(settings: Settings) -> AsyncIterator[Db]:
    """A SQLite file's database (the event log writes it in a thread of its own)."""
    database = await _database(settings)
    yield database
    await database.engine.dispose()


def tool(i: int) -> ToolData:
    return ToolData(call_id=f"c{i}", name="add", status="finished", result=str(i))


async def test_fifty_concurrent_runs_share_transactions_and_keep_gapless_seqs(
    database: Db,
) -> None:
    log = RunEventLog(database.sessions, EventBus(), flush_interval=0.001)
    run_ids = await database.runs(RUNS)
    seen: dict[str, list[int]] = {run_id: [] for run_id in run_ids}

    async def follow(run_id: str) -> None:
        async for event in log.follow(run_id):
            seen[run_id].append(event.seq)

    async def run(run_id: str) -> None:
        writer = await log.open(run_id)
        await writer.emit(StatusData(status="running"), RunChanges(status="running"))
        for i in range(DURABLE):
            await writer.emit(TokenData(text=f"t{i}"))
            await writer.emit(tool(i))
            await writer.emit(UsageData(model="m", prompt_tokens=i, completion_tokens=1))
        await writer.emit(
            CompleteData(status="succeeded", content="", run_id=run_id),
            RunChanges(status="succeeded"),
        )
        await writer.close()

    followers = [asyncio.create_task(follow(run_id)) for run_id in run_ids]
    await asyncio.sleep(0)
    await asyncio.gather(*(run(run_id) for run_id in run_ids))
    await asyncio.wait_for(asyncio.gather(*followers), 30)

    count = 2 + 3 * DURABLE
    for run_id in run_ids:
        assert await database.stored(run_id) == list(range(1, count + 1))
        assert seen[run_id] == list(range(1, count + 1))
    async with database.sessions() as db:
        runs = (await db.scalars(select(Run).where(Run.id.in_(run_ids)))).all()
        assert {(r.status, r.last_seq) for r in runs} == {("succeeded", count)}
        usage = (await db.scalars(select(ModelUsage).where(ModelUsage.run_id.in_(run_ids)))).all()
        assert len(usage) == RUNS * DURABLE
    # Each run flushed at least 2 + 2 * DURABLE times on its own: together, far fewer.
    assert log.committer.transactions < RUNS * (2 + 2 * DURABLE) / 4


async def test_a_refused_write_fails_its_writer_alone_and_is_never_published(
    database: Db,
) -> None:
    log = RunEventLog(database.sessions, EventBus(), group_window=0.05)  # all in one batch
    bad, *good = await database.runs(5)
    async with database.sessions() as db:  # seq 2 is taken: the database refuses bad's
        db.add(RunEvent(run_id=bad, seq=2, type="token", data={"text": "squatter"}))
        await db.commit()
    writers = {run_id: await log.open(run_id) for run_id in (bad, *good)}
    writers[bad].last_seq = 0  # as if it had missed the row: its next event is seq 1, then 2

    with log.bus.subscribe(bad) as bad_queue:
        await writers[bad].emit(TokenData(text="buffered"))  # seq 1, written with seq 2
        results = await asyncio.gather(
            *(writer.emit(tool(1)) for writer in writers.values()), return_exceptions=True
        )
        assert isinstance(results[0], EventWriteFailed)
        assert f"run {bad}: events 1-2 not written" in str(results[0])
        assert [getattr(r, "seq", r) for r in results[1:]] == [1] * len(good)
        published = [bad_queue.get_nowait() for _ in range(bad_queue.qsize())]
    # The token went out live (deltas are published before they are stored); the tool
    # event, whose write failed, reached no follower, and the log holds neither.
    assert [e.type for e in published] == ["token"]
    assert await database.stored(bad) == [2]  # the squatter only
    for run_id in good:
        assert await database.stored(run_id) == [1]
    assert writers[bad].pending and writers[bad].pending[0].seq == 1  # kept, not lost


async def test_a_write_whose_lease_is_lost_is_dropped_and_the_batch_goes_on(
    database: Db,
) -> None:
    log = RunEventLog(database.sessions, EventBus(), group_window=0.05)  # all in one batch
    stale_run, held_run = await database.runs(2, lease_owner="me")
    stale = await log.open(stale_run, Lease(stale_run, "me"))
    held = await log.open(held_run, Lease(held_run, "me"))
    await stale.emit(tool(1))
    async with database.sessions() as db:  # another process took it over meanwhile
        await db.execute(update(Run).where(Run.id == stale_run).values(lease_owner="other"))
        await db.commit()

    with log.bus.subscribe(stale_run) as stale_queue:
        results = await asyncio.gather(
            stale.emit(tool(2)), held.emit(tool(1)), return_exceptions=True
        )
        assert isinstance(results[0], LeaseLost)
        assert getattr(results[1], "seq", results[1]) == 1
        assert stale_queue.empty()  # nothing published under a lost lease
    with pytest.raises(LeaseLost):
        await stale.emit(tool(3))
    assert await database.stored(stale_run) == [1]
    assert await database.stored(held_run) == [1]
    assert stale.lost and not held.lost


async def test_a_flush_cancelled_while_its_batch_commits_is_not_written_twice(
    database: Db,
) -> None:
    log = RunEventLog(database.sessions, EventBus(), group_window=0.02)
    (run_id,) = await database.runs(1)
    writer = await log.open(run_id)
    emitting = asyncio.create_task(writer.emit(tool(1)))
    await asyncio.sleep(0.005)  # submitted, waiting in the window
    emitting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await emitting
    await writer.emit(tool(2))
    await writer.close()
    assert await database.stored(run_id) == [1, 2]


@dataclass
class Held:
    """Inserts of run events in the event log's thread, held until `go` is set."""

    threads: list[str]
    inside: threading.Event
    go: threading.Event


@pytest.fixture
def held_inserts() -> Iterator[Held]:
    held = Held([], threading.Event(), threading.Event())

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO run_events"):
            held.threads.append(threading.current_thread().name)
            if threading.current_thread().name.startswith("event-log"):
                held.inside.set()
                held.go.wait(10)

    sa_event.listen(Engine, "before_cursor_execute", before)
    yield held
    held.go.set()
    sa_event.remove(Engine, "before_cursor_execute", before)


async def test_a_batch_on_a_sqlite_file_is_written_in_the_logs_own_thread(
    sqlite_database: Db, held_inserts: Held
) -> None:
    held_inserts.go.set()
    sessions = sqlite_database.sessions
    log = RunEventLog(sessions, EventBus(), group_window=0.05)  # all in one batch
    run_ids = await sqlite_database.runs(3)
    writers = [await log.open(run_id) for run_id in run_ids]
    await asyncio.gather(*(writer.emit(tool(1)) for writer in writers))
    log.close()
    # One INSERT for the three runs' events, in the log's thread, not the loop's.
    assert held_inserts.threads == ["event-log"]
    assert log.committer.transactions == 1
    for run_id in run_ids:
        assert await sqlite_database.stored(run_id) == [1]


async def test_a_batch_whose_task_is_cancelled_mid_write_still_answers_its_writers(
    sqlite_database: Db, held_inserts: Held
) -> None:
    sessions = sqlite_database.sessions
    log = RunEventLog(sessions, EventBus())
    (run_id,) = await sqlite_database.runs(1)
    writer = await log.open(run_id)
    emitting = asyncio.create_task(writer.emit(tool(1)))
    assert await asyncio.to_thread(held_inserts.inside.wait, 10)  # the INSERT is under way
    (drain,) = [t for t in asyncio.all_tasks() if t.get_name() == "event-log-group-commit"]
    drain.cancel()  # as when the loop shuts down
    held_inserts.go.set()
    event_out = await emitting  # stored, so not "not written": seq 1 is not retried
    assert event_out.seq == 1
    with pytest.raises(asyncio.CancelledError):
        await drain
    await writer.emit(tool(2))
    await writer.close()
    log.close()
    assert await sqlite_database.stored(run_id) == [1, 2]


async def test_the_logs_thread_takes_its_turn_to_write_with_the_engines_connections(
    sqlite_database: Db, held_inserts: Held
) -> None:
    held_inserts.go.set()
    sessions = sqlite_database.sessions
    (run_id,) = await sqlite_database.runs(1)
    log = RunEventLog(sessions, EventBus())
    writer = await log.open(run_id)
    async with sessions() as db:
        await db.execute(update(Run).where(Run.id == run_id).values(goal="writing"))
        emitting = asyncio.create_task(writer.emit(tool(1)))
        await asyncio.sleep(0.3)
        # It waits for its turn without trying SQLite's lock (no busy-handler polling).
        assert not emitting.done() and held_inserts.threads == []
        await db.commit()
    assert (await asyncio.wait_for(emitting, 10)).seq == 1
    assert held_inserts.threads == ["event-log"]
    await writer.close()
    log.close()
    assert await sqlite_database.stored(run_id) == [1]
