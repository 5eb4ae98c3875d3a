"""A SQLite connection of its own in a thread of its own, for whole transactions.

aiosqlite runs each call on its connection's thread: a statement is three hand-offs
(cursor, execute, close), a commit and the pool's reset two more, and each hand-off wakes
a thread, which a busy machine makes wait. `SQLiteThread` takes a whole transaction in
one hand-off: the caller's function runs in the thread, on its connection, inside
`Connection.begin()`, and its result comes back as a future of the caller's loop.

Calls run one at a time, in the order they were made. A call runs to its end once
handed over: cancelling the future only stops the caller from waiting for it.

Its connection does not checkpoint the WAL after a commit (SQLite's default every 1,000
pages, an fsync of the WAL and of the database inside that commit): a second thread, on a
connection of its own, checkpoints what the commits wrote, at most every
`CHECKPOINT_PAUSE` seconds, without holding up the next transaction (PASSIVE: it copies
what no reader still needs and never waits for a lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

CHECKPOINT_PAUSE = 0.2  # seconds between two checkpoints of what the thread wrote

# (the caller's loop, its future, the work, its argument), or None: stop.
_Call = tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[Connection, Any], Any], Any]


class SQLiteThread:
    """Runs transactions on `engine` (a synchronous engine on a SQLite file) in one thread,
    started at the first call and stopped by `close` (or once this object is dropped)."""

    def __init__(self, engine: Engine, name: str) -> None:
        self._calls: SimpleQueue[_Call | None] = SimpleQueue()
        # The thread holds the queue and the engine, not this object: dropping it stops
        # the thread, which then closes its connection.
        self._thread = threading.Thread(
            target=_serve, args=(self._calls, engine), name=name, daemon=True
        )
        self._stop = weakref.finalize(self, self._calls.put, None)

    def transaction(self, work: Callable[[Connection, T], R], arg: T) -> asyncio.Future[R]:
        """`work(connection, arg)` in one transaction (committed if it returns, rolled back
        if it raises), as a future of the running loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        if not self._stop.alive:
            raise RuntimeError("the SQLite thread is closed")
        self._calls.put((loop, future, work, arg))
        if self._thread.ident is None:
            self._thread.start()
        return future

    def close(self) -> None:
        """Stop the thread once the calls already made are done, and close its connection."""
        self._stop()
        if self._thread.ident is not None:
            self._thread.join()


async def through_cancellation(future: asyncio.Future[Any]) -> bool:
    """Wait until `future` is done, even if the waiting task is cancelled meanwhile (the
    outcome is read from `future`): whether it was."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
        except Exception:  # done: the caller reads the outcome from `future`
            break
    return cancelled


def _serve(calls: SimpleQueue[_Call | None], engine: Engine) -> None:
    connection: Connection | None = None
    wrote, stopping = threading.Event(), threading.Event()
    checkpoints = threading.Thread(
        target=_checkpoint,
        args=(str(engine.url.database), wrote, stopping),
        name=f"{threading.current_thread().name}-checkpoint",
        daemon=True,
    )
    checkpoints.start()
    try:
        while (call := calls.get()) is not None:
            loop, future, work, arg = call
            try:
                if connection is None:
                    connection = engine.connect()
                    connection.exec_driver_sql("PRAGMA wal_autocheckpoint=0")  # see `_checkpoint`
                    connection.commit()
                with connection.begin():
                    result = work(connection, arg)
            except BaseException as exc:  # handed to the caller, whatever it is
                if connection is not None:  # start afresh: it may be what failed
                    connection.close()
                    connection = None
                _answer(loop, future, None, exc)
            else:
                _answer(loop, future, result, None)
                wrote.set()
    finally:
        stopping.set()
        wrote.set()
        checkpoints.join()
        if connection is not None:
            connection.close()
        engine.dispose()


def _checkpoint(path: str, wrote: threading.Event, stopping: threading.Event) -> None:
    """Checkpoint the WAL after commits of the writing thread, at most every pause, and
    once more when it stops."""
    database = sqlite3.connect(path, timeout=30, check_same_thread=False)
    try:
        while wrote.wait():
            wrote.clear()
            try:
                database.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # the next commit asks again
                log.warning("WAL checkpoint of %s failed: %s", path, exc)
            if stopping.is_set():
                return
            stopping.wait(CHECKPOINT_PAUSE)
    finally:
        database.close()


def _answer(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    exc: BaseException | None,
) -> None:
    with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
        loop.call_soon_threadsafe(_resolve, future, result, exc)


def _resolve(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():  # cancelled: the caller stopped waiting
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
