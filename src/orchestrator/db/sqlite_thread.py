"""A SQLite connection of its own in a thread of its own, for whole transactions.

aiosqlite runs each call on its connection's thread: a statement is three hand-offs
(cursor, execute, close), a commit and the pool's reset two more, and each hand-off wakes
a thread, which a busy machine makes wait. `SQLiteThread` takes a whole transaction in
one hand-off: the caller's function runs in the thread, on its connection, inside
`Connection.begin()`, and its result comes back as a future of the caller's loop.

Calls run one at a time, in the order they were made. A call runs to its end once
handed over: cancelling the future only stops the caller from waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

T = TypeVar("T")
R = TypeVar("R")

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


def _serve(calls: SimpleQueue[_Call | None], engine: Engine) -> None:
    connection: Connection | None = None
    try:
        while (call := calls.get()) is not None:
            loop, future, work, arg = call
            try:
                if connection is None:
                    connection = engine.connect()
                with connection.begin():
                    result = work(connection, arg)
            except BaseException as exc:  # handed to the caller, whatever it is
                if connection is not None:  # start afresh: it may be what failed
                    connection.close()
                    connection = None
                _answer(loop, future, None, exc)
            else:
                _answer(loop, future, result, None)
    finally:
        if connection is not None:
            connection.close()
        engine.dispose()


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
