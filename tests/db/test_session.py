"""The SQLite engine: a session that only read ends without a ROLLBACK round trip, one
that wrote and did not commit is still rolled back, connections are kept in the pool, and
writers take turns (the next one goes when the one before commits or rolls back)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from orchestrator.core.config import Settings
from orchestrator.db._sqlite import connector
from orchestrator.db.models import User
from orchestrator.db.session import create_engine, create_session_factory, skip_idle_rollback


def _counting_engine(settings: Settings) -> tuple[AsyncEngine, list[int]]:
    """A plain aiosqlite engine whose driver rollbacks are counted, then given the same
    skip as `create_engine`'s."""
    engine = create_async_engine(settings.resolved_database_url)
    dialect = engine.sync_engine.dialect
    calls = [0]
    driver_rollback = dialect.do_rollback

    def counted(dbapi_connection: Any) -> None:
        calls[0] += 1
        driver_rollback(dbapi_connection)

    dialect.do_rollback = counted  # type: ignore[method-assign]
    skip_idle_rollback(dialect)
    return engine, calls


async def _users(engine: AsyncEngine) -> int:
    async with create_session_factory(engine)() as db:
        return int(await db.scalar(select(func.count()).select_from(User)) or 0)


def test_a_session_that_only_read_sends_no_rollback(settings: Settings) -> None:
    async def scenario() -> tuple[int, int]:
        engine, calls = _counting_engine(settings)
        sessions = create_session_factory(engine)
        try:
            async with sessions() as db:
                await db.scalar(select(func.count()).select_from(User))
            read_only = calls[0]
            async with sessions() as db:
                db.add(User(username="left-uncommitted", password_hash="x"))
                await db.flush()  # a write: SQLite has a transaction open now
            return read_only, calls[0] - read_only
        finally:
            await engine.dispose()

    read_only, after_write = asyncio.run(scenario())
    assert read_only == 0
    assert after_write == 1


def test_a_write_left_uncommitted_is_rolled_back(settings: Settings) -> None:
    async def scenario() -> tuple[int, int]:
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        try:
            before = await _users(engine)
            async with sessions() as db:
                db.add(User(username="never-committed", password_hash="x"))
                await db.flush()
            # The same pooled connection serves the next session: nothing of the write stays.
            return before, await _users(engine)
        finally:
            await engine.dispose()

    before, after = asyncio.run(scenario())
    assert after == before


def test_connections_are_kept_in_the_pool(settings: Settings) -> None:
    async def scenario() -> int:
        engine = create_engine(settings)
        opened = [0]
        event.listen(engine.sync_engine, "connect", lambda *_: opened.__setitem__(0, opened[0] + 1))
        sessions = create_session_factory(engine)

        async def read() -> None:
            async with sessions() as db:
                await db.scalar(select(func.count()).select_from(User))
                await asyncio.sleep(0.01)  # held at once by every reader

        try:
            for _ in range(3):  # three bursts of 8 sessions at once
                await asyncio.gather(*(read() for _ in range(8)))
            return opened[0]
        finally:
            await engine.dispose()

    # The default pool (5 kept, 10 more under load) opened and closed 3 per burst past 5.
    assert asyncio.run(scenario()) == 8


def test_writers_take_turns_and_the_next_goes_at_the_commit(settings: Settings) -> None:
    async def scenario() -> tuple[bool, bool, int]:
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        try:
            first = sessions()
            first.add(User(username="first-writer", password_hash="x"))
            await first.flush()  # holds the write lock until it commits

            async def second() -> None:
                async with sessions() as db:
                    db.add(User(username="second-writer", password_hash="x"))
                    await db.commit()

            waiting = asyncio.create_task(second())
            await asyncio.sleep(0.2)
            blocked = not waiting.done()
            await first.commit()
            await first.close()
            await asyncio.wait_for(waiting, 5)
            async with sessions() as db:
                return blocked, waiting.exception() is None, await _count(db)
        finally:
            await engine.dispose()

    blocked, ok, users = asyncio.run(scenario())
    assert blocked  # the second write waited for the first transaction
    assert ok and users == 2  # and went through, no "database is locked"


def test_a_writer_waiting_past_the_timeout_fails_as_sqlite_does(settings: Settings) -> None:
    async def scenario() -> str:
        url = settings.resolved_database_url
        engine = create_async_engine(url, async_creator=connector(url, timeout=0.3))
        sessions = create_session_factory(engine)
        try:
            async with sessions() as holder:
                holder.add(User(username="holder", password_hash="x"))
                await holder.flush()
                async with sessions() as late:
                    late.add(User(username="late", password_hash="x"))
                    try:
                        await late.flush()
                    except OperationalError as exc:
                        return str(exc.orig)
            return "no error"
        finally:
            await engine.dispose()

    assert asyncio.run(scenario()) == "database is locked"


def test_a_failed_write_lets_the_next_writer_go_once_rolled_back(settings: Settings) -> None:
    async def scenario() -> int:
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        try:
            async with sessions() as db:
                db.add(User(username="taken", password_hash="x"))
                await db.commit()
            async with sessions() as db:
                db.add(User(username="taken", password_hash="x"))  # unique: refused
                with contextlib.suppress(IntegrityError):
                    await db.flush()
                await db.rollback()
            async with sessions() as db:  # within the timeout: the lock was let go
                db.add(User(username="after", password_hash="x"))
                await asyncio.wait_for(db.commit(), 5)
                return await _count(db)
        finally:
            await engine.dispose()

    assert asyncio.run(scenario()) == 2


async def _count(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(User)) or 0)
