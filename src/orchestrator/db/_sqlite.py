"""aiosqlite with one trip to the connection's thread per statement, and writers that
take turns.

aiosqlite runs every sqlite3 call on the connection's own thread, and SQLAlchemy's
adapter makes four such calls per statement: open a cursor, execute, fetch the rows,
close the cursor. Each is a hand-off from the event loop to that thread and back, a
wake-up of both: a third of the event loop's time in a chat turn (bench/runs, py-spy)
went to handing statements over. Here the cursor executes, fetches every row and closes
in one call, and answers the adapter's questions (description, rowcount, lastrowid,
rows) from what that call brought back. Everything else (the thread, commit, rollback,
close) is aiosqlite's own.

SQLite lets one transaction write at a time, and one that finds the database locked
sleeps and polls in its busy handler (1, 2, 5 ... then 100 ms at a time): with 50 chat
turns at once, the first write of a turn's transactions waited 50-200 ms on average,
while the lock was free most of that time. Here the connections of one engine share a
`WriteTurns`: a transaction's first write waits on an asyncio lock, which passes on the
moment the writer before it commits or rolls back, first come first served; SQLite's
busy handler is left to serve other processes on the same file. Like SQLite's own lock,
a writer waiting longer than the busy timeout fails with "database is locked".
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.engine import make_url

# description, rowcount, lastrowid, rows, and whether a transaction is open after it
_Outcome = tuple[Any, int, int | None, list[Any], bool]
# The statements before which sqlite3 opens a transaction: the first write of one.
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")


def _run(connection: aiosqlite.Connection, sql: str, parameters: Any, many: bool) -> _Outcome:
    """On the connection's thread: the statement, all its rows, and the cursor closed."""
    conn = connection._conn
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        # Fetched before rowcount is read: with RETURNING, sqlite3 counts rows as they come.
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows, conn.in_transaction
    finally:
        cursor.close()


class WriteTurns:
    """The write lock of one engine's connections (one asyncio lock per event loop), and of
    the event log's writing thread (`runs.group_commit`)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout  # seconds a writer waits, as SQLite's busy timeout
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        found = self._locks.get(loop)
        if found is None:
            found = self._locks[loop] = asyncio.Lock()
        return found

    async def acquire(self) -> asyncio.Lock:
        """This loop's write lock, once it is this caller's turn (the caller releases it);
        after `timeout` seconds of waiting, "database is locked", as SQLite says."""
        lock = self.lock()
        try:
            async with asyncio.timeout(self.timeout):
                await lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        return lock


class OneTripCursor:
    """What SQLAlchemy's aiosqlite adapter uses of a cursor, one trip per statement."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._rows = []

    async def _call(self, sql: str, parameters: Any, many: bool) -> OneTripCursor:
        connection = self._connection
        if sql.lstrip()[:6].upper() in _WRITES:
            await connection.begin_writing()
        try:
            outcome: _Outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _run, connection, sql, parameters, many
            )
        except BaseException:
            connection.check_writing()
            raise
        self.description, self.rowcount, self.lastrowid, self._rows, still_open = outcome
        if not still_open:  # no transaction (it failed, or ran without one): no lock held
            connection.done_writing()
        return self

    async def execute(self, sql: str, parameters: Any = ()) -> OneTripCursor:
        return await self._call(sql, parameters, many=False)

    async def executemany(self, sql: str, parameters: Sequence[Any]) -> OneTripCursor:
        return await self._call(sql, parameters, many=True)

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors make one trip per statement, and whose
    transactions write one at a time with those of the other connections of `turns`."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], turns: WriteTurns) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._turns = turns
        self._writing: asyncio.Lock | None = None  # the lock this connection's transaction holds

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)

    async def begin_writing(self) -> None:
        """Wait for the write lock, unless this connection's transaction holds it."""
        if self._writing is None:
            self._writing = await self._turns.acquire()

    def done_writing(self) -> None:
        """This connection's transaction ended: the next writer goes."""
        lock, self._writing = self._writing, None
        if lock is not None:
            lock.release()

    def check_writing(self) -> None:
        """Let go of the lock if no transaction is open (after a failed statement)."""
        if self._writing is not None and not self._open():
            self.done_writing()

    async def commit(self) -> None:
        try:
            await super().commit()
        finally:
            self.check_writing()

    async def rollback(self) -> None:
        try:
            await super().rollback()
        finally:
            self.check_writing()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self.done_writing()

    def stop(self) -> asyncio.Future[Any] | None:
        self.done_writing()
        return super().stop()

    def _open(self) -> bool:
        try:
            return bool(self.in_transaction)
        except ValueError:  # no active connection: closed
            return False


def connector(
    url: str, turns: WriteTurns | None = None, **options: Any
) -> Callable[[], Awaitable[OneTripConnection]]:
    """`create_async_engine(url, async_creator=...)` for a SQLite `url`: the arguments
    SQLAlchemy would give sqlite3 for it, plus `options` (e.g. `timeout`). The engine's
    connections share one `WriteTurns` (`turns`, or one of their own)."""
    parsed = make_url(url)
    args, kwargs = parsed.get_dialect()().create_connect_args(parsed)
    kwargs = {**kwargs, **options}
    connect = functools.partial(sqlite3.connect, *args, **kwargs)
    if turns is None:
        turns = WriteTurns(timeout=float(kwargs.get("timeout", 5.0)))  # 5 s: sqlite3's default

    async def create() -> OneTripConnection:
        connection = OneTripConnection(connect, turns)
        connection._thread.daemon = True  # as SQLAlchemy does: never holds the exit up
        await connection
        return connection

    return create
