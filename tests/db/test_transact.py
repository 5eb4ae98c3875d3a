"""`db.session.transact`: a function's statements in one transaction, committed if it
returns and rolled back if it raises; on SQLite in one hand-off to the engine's writing
thread, in turn with the engine's other writers, and seen to its end if the caller is
cancelled."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import Connection, event, func, insert, select

from orchestrator.core.config import Settings
from orchestrator.db.models import User
from orchestrator.db.session import create_engine, create_session_factory, read, transact

_COUNT = select(func.count()).select_from(User)


def _add(connection: Connection, name: str) -> str:
    connection.execute(insert(User).values(username=name, password_hash="x", role="user"))
    return threading.current_thread().name


def _add_then_fail(connection: Connection, name: str) -> None:
    _add(connection, name)
    raise ValueError("the work failed")


async def test_work_commits_when_it_returns_and_rolls_back_when_it_raises(
    any_db_settings: Settings,
) -> None:
    engine = create_engine(any_db_settings)
    try:
        await transact(engine, _add, "ada")
        with pytest.raises(ValueError, match="the work failed"):
            await transact(engine, _add_then_fail, "grace")
        names = await read(engine, select(User.username))
        assert [name for (name,) in names] == ["ada"]
    finally:
        await engine.dispose()


async def test_on_sqlite_the_transaction_is_one_hand_off_to_the_writing_thread(
    settings: Settings,
) -> None:
    engine = create_engine(settings)
    checkouts = [0]
    event.listen(engine.sync_engine, "checkout", lambda *_: checkouts.__setitem__(0, 1))
    try:
        assert await transact(engine, _add, "ada") == "db-writer"
        assert checkouts == [0]  # no aiosqlite connection: no trip per statement
        assert (await read(engine, _COUNT))[0][0] == 1
    finally:
        await engine.dispose()
    assert "db-writer" not in {t.name for t in threading.enumerate()}  # stopped with it


async def test_it_waits_its_turn_behind_a_session_that_writes(settings: Settings) -> None:
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    try:
        async with sessions() as db:
            db.add(User(username="first", password_hash="x", role="user"))
            await db.flush()  # this session holds the write turn until it commits
            waiting = asyncio.create_task(transact(engine, _add, "second"))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            await db.commit()
        await asyncio.wait_for(waiting, 10)
        names = await read(engine, select(User.username).order_by(User.id))
        assert [name for (name,) in names] == ["first", "second"]
    finally:
        await engine.dispose()


async def test_a_caller_cancelled_mid_transaction_leaves_it_whole_and_the_turn_free(
    settings: Settings,
) -> None:
    engine = create_engine(settings)
    started, go_on = threading.Event(), threading.Event()

    def slow(connection: Connection, name: str) -> None:
        _add(connection, name)
        started.set()
        go_on.wait(10)

    try:
        task = asyncio.create_task(transact(engine, slow, "ada"))
        await asyncio.to_thread(started.wait, 10)
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done()  # it waits for the thread's transaction to end
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await read(engine, _COUNT))[0][0] == 1  # committed all the same
        await asyncio.wait_for(transact(engine, _add, "grace"), 10)  # the turn was let go
        assert (await read(engine, _COUNT))[0][0] == 2
    finally:
        go_on.set()
        await engine.dispose()
