"""Short reads on SQLite run on the event loop's thread (`db.session.read`): no hand-off to
aiosqlite's thread, the latest committed rows, never a write, and never the loop held up
(a long read is interrupted and a locked database waited for on the thread instead)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
from sqlalchemy import bindparam, event, insert, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.core.config import Settings
from orchestrator.db import _inline
from orchestrator.db.models import User
from orchestrator.db.session import _INLINE, create_engine, read, sqlite_thread_engine

_NAME = select(User.username).where(User.id == bindparam("user_id"))


def _checkouts(engine: AsyncEngine) -> list[int]:
    """How many connections the engine's pool has handed out (aiosqlite's threads)."""
    count = [0]
    event.listen(engine.sync_engine, "checkout", lambda *_: count.__setitem__(0, count[0] + 1))
    return count


async def _add_user(engine: AsyncEngine, name: str) -> int:
    async with engine.begin() as connection:
        result = await connection.execute(
            insert(User).values(username=name, password_hash="x", role="user")
        )
        return int(result.inserted_primary_key[0])


async def test_a_read_runs_on_this_thread_and_sees_the_last_commit(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        user_id = await _add_user(engine, "ada")  # committed on aiosqlite's thread
        checkouts = _checkouts(engine)
        rows = await read(engine, _NAME, {"user_id": user_id})
        assert [tuple(r) for r in rows] == [("ada",)]
        assert checkouts == [0]  # no pooled connection: nothing handed to another thread
        # A write committed by the event log's own thread is seen at once too.
        sync = sqlite_thread_engine(engine)
        assert sync is not None
        with sync.begin() as connection:
            connection.execute(
                text("UPDATE users SET username = 'grace' WHERE id = :id"), {"id": user_id}
            )
        sync.dispose()
        assert [tuple(r) for r in await read(engine, _NAME, {"user_id": user_id})] == [("grace",)]
        assert checkouts == [0] and _INLINE[engine.sync_engine].fallbacks == 0
    finally:
        await engine.dispose()


async def test_the_connection_of_the_loop_cannot_write(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        inline = _INLINE[engine.sync_engine]
        statement = insert(User).values(username="mallory", password_hash="x", role="user")
        assert inline.rows(statement, None) is None  # refused by SQLite: query_only
        assert await read(engine, select(User.id)) == []  # nothing was written
    finally:
        await engine.dispose()


async def test_a_read_past_its_budget_is_interrupted_and_read_on_the_thread(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_inline, "BUDGET_SECONDS", 0.001)
    # Counting to three million takes SQLite far longer than a millisecond.
    numbers = text(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000)"
        " SELECT count(*) AS c FROM n"
    ).columns(literal_column("c"))
    engine = create_engine(settings)
    try:
        checkouts = _checkouts(engine)
        started = time.perf_counter()
        rows = await read(engine, numbers)
        assert rows[0][0] == 3_000_000  # the whole answer, from the thread
        assert _INLINE[engine.sync_engine].fallbacks == 1 and checkouts == [1]
        assert time.perf_counter() - started > 0.05  # it did run long: on the thread
    finally:
        await engine.dispose()


async def test_a_locked_database_is_waited_for_on_the_thread_while_the_loop_goes_on(
    settings: Settings,
) -> None:
    # A file not in WAL mode (another program made it): a writer's lock keeps readers out.
    path = settings.data_dir / "orchestrator.db"
    with sqlite3.connect(path) as plain:
        plain.execute("PRAGMA journal_mode=DELETE")
        plain.execute(
            "INSERT INTO users (username, password_hash, role, is_active,"
            " token_version, created_at) VALUES ('ada', 'x', 'user', 1, 0, '2026-01-01')"
        )
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    engine = create_engine(settings)
    release = threading.Timer(0.3, holder.execute, ["COMMIT"])
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    try:
        release.start()
        rows = await read(engine, select(User.username))
        assert [tuple(r) for r in rows] == [("ada",)]
        assert _INLINE[engine.sync_engine].fallbacks == 1
        assert ticks >= 10  # the loop kept turning while the read waited for the lock
    finally:
        ticking.cancel()
        release.join()
        holder.close()
        await engine.dispose()


async def test_an_engine_disposed_closes_its_connections(settings: Settings) -> None:
    engine = create_engine(settings)
    await read(engine, select(User.id))
    inline = _INLINE[engine.sync_engine]
    assert len(inline._readers) == 1
    await engine.dispose()
    assert inline._readers == []
