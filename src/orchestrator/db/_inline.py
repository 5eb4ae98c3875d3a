"""Short reads on the event loop's own thread, for SQLite.

Through aiosqlite, a read is handed to its connection's thread and back: about 200 us of
CPU for a primary-key read that SQLAlchemy on a plain sqlite3 connection does in 22 and
SQLite itself in 5 (bench/runs' hot reads: the turn's owner, its conversation, the
disabled tools; and the user of every authenticated request). In WAL mode a reader takes
no lock a writer waits on, and is not kept waiting by one, so those reads run here, on a
connection of the calling thread that cannot write (`query_only`) and never waits for a
lock (`timeout=0`).

Two things would hold the event loop up, and send the read to aiosqlite's thread after
all: a read still running after `BUDGET_SECONDS` is interrupted (a long conversation, a
log caught up from the start), and one that finds the database busy (a checkpoint that
truncates the WAL, the recovery after a crash, a file not in WAL mode yet) gives up at
once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Connection, Row
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import Executable

BUDGET_SECONDS = 0.002  # the longest a read may hold the event loop up
_CHECK_EVERY = 1_000  # SQLite instructions between two looks at the clock


class _Reader:
    """One thread's connection, and the deadline of the read it is doing."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.deadline = 0.0

    def overdue(self) -> int:
        """SQLite's progress handler: non-zero interrupts the statement."""
        return int(time.perf_counter() > self.deadline)


class InlineReads:
    """Reads of one SQLite file, each on a connection of the thread that asks."""

    def __init__(self, url: URL) -> None:
        self._engine = create_engine(
            url.set(drivername="sqlite"),
            poolclass=NullPool,
            # Never waits for a lock; closed by whichever thread disposes of it.
            connect_args={"timeout": 0, "check_same_thread": False},
        )
        self._local = threading.local()
        self._readers: list[_Reader] = []
        self.fallbacks = 0  # reads that went to the thread after all (for tests and benches)

    def _reader(self) -> _Reader:
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is None:
            connection = self._engine.connect()
            reader = self._local.reader = _Reader(connection)
            dbapi = connection.connection.dbapi_connection
            assert isinstance(dbapi, sqlite3.Connection)
            dbapi.execute("PRAGMA query_only=ON")
            dbapi.set_progress_handler(reader.overdue, _CHECK_EVERY)
            self._readers.append(reader)
        return reader

    def rows(
        self, statement: Executable, parameters: Mapping[str, Any] | None
    ) -> Sequence[Row[Any]] | None:
        """The rows of `statement`, or None if it could not be read here and now (busy, or
        past the budget): the caller reads it the usual way."""
        reader = self._reader()
        reader.deadline = time.perf_counter() + BUDGET_SECONDS
        try:
            return reader.connection.execute(statement, parameters).all()
        except OperationalError:  # "database is locked", "interrupted", or a real error
            self.fallbacks += 1  # that the usual way raises as it should
            return None
        finally:
            reader.connection.rollback()  # no transaction stays open: the next read is fresh

    def close(self) -> None:
        for reader in self._readers:
            reader.connection.close()
        self._readers.clear()
        self._local = threading.local()
        self._engine.dispose()
