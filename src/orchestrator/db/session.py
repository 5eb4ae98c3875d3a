"""The async engine and session factory for SQLite (default) or Postgres."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from orchestrator.core.config import Settings
from orchestrator.db._sqlite import connector


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
        engine = create_async_engine(
            url,
            async_creator=connector(url, timeout=30),
            pool_size=settings.db_pool_size + settings.db_max_overflow,
            max_overflow=settings.db_max_overflow,
        )
        sync_engine: Engine = engine.sync_engine
        event.listen(sync_engine, "connect", _sqlite_pragmas)
        skip_idle_rollback(sync_engine.dialect)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
