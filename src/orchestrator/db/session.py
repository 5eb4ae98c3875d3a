"""The async engine and session factory for SQLite (default) or Postgres."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from orchestrator.core.config import Settings


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


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine for `settings.resolved_database_url`, with SQLite tuned for concurrency."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.ensure_data_dir()
        engine = create_async_engine(url, connect_args={"timeout": 30})
        sync_engine: Engine = engine.sync_engine
        event.listen(sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=True,
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
