"""The async engine and session factory for SQLite (default) or Postgres."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine, Row
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Executable

from orchestrator.core.config import Settings
from orchestrator.db._inline import InlineReads
from orchestrator.db._sqlite import WriteTurns, connector
from orchestrator.db.sqlite_thread import SQLiteThread, through_cancellation

T = TypeVar("T")
R = TypeVar("R")

# The write lock of each SQLite engine's connections, for writers on a connection of their
# own (`sqlite_thread_engine`) to take their turns with them.
_WRITE_TURNS: weakref.WeakKeyDictionary[Engine, WriteTurns] = weakref.WeakKeyDictionary()
# The reads each SQLite file engine runs on the calling thread (`read`).
_INLINE: weakref.WeakKeyDictionary[Engine, InlineReads] = weakref.WeakKeyDictionary()
# The thread each SQLite file engine runs whole transactions on (`transact`), once asked.
_WRITERS: weakref.WeakKeyDictionary[Engine, SQLiteThread] = weakref.WeakKeyDictionary()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets the event-log writer and readers work at once; foreign keys are off by default.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Writers queue for the lock instead of failing with "database is locked" (a burst of
    # parallel runs makes some wait seconds); the same 30 s as the driver's timeout.
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def skip_idle_rollback(dialect: Dialect) -> None:
    """No ROLLBACK where SQLite has no transaction open: the driver begins one only before
    a write, so a session that only read ends with nothing to roll back, and with
    aiosqlite each ROLLBACK is a round trip to the connection's thread (ten of a chat
    turn's sixteen sessions only read; their ROLLBACKs were 3% of the event loop's time in
    bench/runs)."""
    rollback = dialect.do_rollback

    def do_rollback(dbapi_connection: Any) -> None:
        driver = getattr(dbapi_connection, "driver_connection", None)
        try:
            idle = driver is not None and not driver.in_transaction
        except ValueError:  # aiosqlite's "no active connection": the adapter skips it too
            idle = True
        if not idle:
            rollback(dbapi_connection)

    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine for `settings.resolved_database_url`, with SQLite tuned for concurrency."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.ensure_data_dir()
        # Connections are kept, not opened per burst: with aiosqlite each is a thread, and
        # past the default pool of 5 every checkout opened one (a thread, the pragmas) and
        # closed it after (50 chat turns at once). An idle one costs a sleeping thread, so
        # SQLite keeps the overflow too.
        turns = WriteTurns(timeout=30)
        engine = create_async_engine(
            url,
            async_creator=connector(url, turns, timeout=30),
            pool_size=settings.db_pool_size + settings.db_max_overflow,
            max_overflow=settings.db_max_overflow,
        )
        sync_engine: Engine = engine.sync_engine
        event.listen(sync_engine, "connect", _sqlite_pragmas)
        skip_idle_rollback(sync_engine.dialect)
        _WRITE_TURNS[sync_engine] = turns
        if engine.url.database not in (None, "", ":memory:"):
            inline = _INLINE[sync_engine] = InlineReads(engine.url)
            event.listen(sync_engine, "engine_disposed", lambda _: inline.close())
        return engine
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def engine_of(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The engine a session factory is bound to."""
    bind = sessions.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise TypeError("the session factory is bound to no engine")
    return bind


async def fetch(
    sessions: async_sessionmaker[AsyncSession],
    statement: Executable,
    parameters: Mapping[str, Any] | None = None,
) -> Sequence[Row[Any]]:
    """The rows of one read (`read`) on the engine of `sessions`."""
    return await read(engine_of(sessions), statement, parameters)


async def read(
    engine: AsyncEngine, statement: Executable, parameters: Mapping[str, Any] | None = None
) -> Sequence[Row[Any]]:
    """The rows of one read, on a pooled connection of its own: no ORM session around it;
    on a SQLite file, at once on this thread if it is short (`db._inline`). For the hot
    reads (every chat turn's, every request's user), whose statements are built once
    with `bindparam`s: a primary-key read this way cost about 200 us of CPU on SQLite
    through aiosqlite (twice that in a session with the statement built each time), and
    26 us on this thread. Columns
    only: entities come back as rows of their columns."""
    inline = _INLINE.get(engine.sync_engine)
    if inline is not None:
        rows = inline.rows(statement, parameters)
        if rows is not None:
            return rows
    async with engine.connect() as connection:
        return (await connection.execute(statement, parameters)).all()


async def transact(engine: AsyncEngine, work: Callable[[Connection, T], R], arg: T) -> R:
    """`work(connection, arg)` in one transaction, committed if it returns and rolled back
    if it raises. On a SQLite file, in one hand-off to a thread that writes for the engine,
    in its turn with the engine's other writers: one trip between threads where a statement
    through aiosqlite takes one each, and the commit one more (about 170 us of CPU a trip).
    Elsewhere, on a pooled connection. Once handed over, the transaction is seen to its
    end even if the caller is cancelled meanwhile (then `CancelledError`)."""
    turns = write_turns(engine)
    thread = _writer(engine) if turns is not None else None
    if turns is None or thread is None:
        async with engine.begin() as connection:
            return await connection.run_sync(work, arg)
    lock = await turns.acquire()
    try:
        done = thread.transaction(work, arg)
        if await through_cancellation(done):
            raise asyncio.CancelledError
        return done.result()
    finally:
        lock.release()


def _writer(engine: AsyncEngine) -> SQLiteThread | None:
    """The engine's writing thread, started on first use and stopped when it is disposed."""
    thread = _WRITERS.get(engine.sync_engine)
    if thread is None:
        file = sqlite_thread_engine(engine)
        if file is None:
            return None
        sync = engine.sync_engine
        thread = _WRITERS[sync] = SQLiteThread(file, "db-writer")
        event.listen(sync, "engine_disposed", lambda _: _stop_writer(sync))
    return thread


def _stop_writer(sync: Engine) -> None:
    thread = _WRITERS.pop(sync, None)
    if thread is not None:
        thread.close()


def write_turns(engine: AsyncEngine) -> WriteTurns | None:
    """The write lock `engine`'s connections take turns with (None: not SQLite, or not
    made by `create_engine`)."""
    return _WRITE_TURNS.get(engine.sync_engine)


def sqlite_thread_engine(engine: AsyncEngine) -> Engine | None:
    """A synchronous engine on `engine`'s SQLite file (its one connection, the same pragmas),
    for a thread that runs whole transactions: one hand-off per transaction, where the
    engine's connections take one per statement and one to commit. Its writes should take
    their turns with the engine's (`write_turns`). None if `engine` is not on a SQLite file."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    sync = create_sync_engine(
        url.set(drivername="sqlite"),
        poolclass=StaticPool,
        # Made in its thread, disposed of from the loop's once that thread is done.
        connect_args={"timeout": 30, "check_same_thread": False},
    )
    event.listen(sync, "connect", _sqlite_pragmas)
    return sync
