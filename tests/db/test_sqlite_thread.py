"""`SQLiteThread` runs whole transactions on a SQLite file in one thread of its own: in
the order they were handed over, committed if the work returns and rolled back if it
raises (the next one still runs), and nothing more once it is closed. What it writes is
checkpointed into the database file by its second thread, not by its commits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text

from orchestrator.db.sqlite_thread import CHECKPOINT_PAUSE, SQLiteThread


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 't.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY, thread TEXT)"))
    yield engine
    engine.dispose()


def insert(connection: Connection, n: int) -> str:
    name = threading.current_thread().name
    connection.execute(text("INSERT INTO t VALUES (:n, :thread)"), {"n": n, "thread": name})
    return name


def insert_then_fail(connection: Connection, n: int) -> None:
    insert(connection, n)
    raise RuntimeError(f"refused {n}")


def rows(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as connection:
        return [(n, t) for n, t in connection.execute(text("SELECT n, thread FROM t ORDER BY n"))]


async def test_transactions_run_in_order_in_one_thread_and_a_failed_one_is_rolled_back(
    engine: Engine, tmp_path: Path
) -> None:
    worker = SQLiteThread(create_engine(f"sqlite:///{tmp_path / 't.db'}"), "writer")
    try:
        first, failing, last = (
            worker.transaction(insert, 1),
            worker.transaction(insert_then_fail, 2),
            worker.transaction(insert, 3),
        )
        assert await first == "writer"
        with pytest.raises(RuntimeError, match="refused 2"):
            await failing
        assert await last == "writer"
        assert threading.current_thread().name != "writer"
    finally:
        worker.close()
    assert rows(engine) == [(1, "writer"), (3, "writer")]  # 2 was rolled back


async def test_a_cancelled_wait_does_not_stop_the_transaction(
    engine: Engine, tmp_path: Path
) -> None:
    worker = SQLiteThread(create_engine(f"sqlite:///{tmp_path / 't.db'}"), "writer")
    try:
        worker.transaction(insert, 1).cancel()
        assert await worker.transaction(insert, 2) == "writer"  # runs after the first
    finally:
        worker.close()
    assert [n for n, _ in rows(engine)] == [1, 2]


async def test_a_closed_thread_is_stopped_and_takes_no_more_work(
    engine: Engine, tmp_path: Path
) -> None:
    worker = SQLiteThread(create_engine(f"sqlite:///{tmp_path / 't.db'}"), "closing-writer")
    assert await worker.transaction(insert, 1) == "closing-writer"
    worker.close()
    assert "closing-writer" not in {thread.name for thread in threading.enumerate()}
    with pytest.raises(RuntimeError, match="closed"):
        worker.transaction(insert, 2)
    assert [n for n, _ in rows(engine)] == [1]


def insert_many(connection: Connection, count: int) -> None:
    connection.execute(
        text("INSERT INTO t VALUES (:n, :thread)"),
        [{"n": n, "thread": "x" * 200} for n in range(count)],
    )


async def test_what_it_writes_reaches_the_database_file_through_its_checkpoints(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "t.db"
    with engine.connect() as connection:  # WAL mode, as the app's engines set it
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    before = path.stat().st_size
    # The fixture's engine keeps a connection open: no last close folds the WAL in.
    worker = SQLiteThread(create_engine(f"sqlite:///{path}"), "checkpointed")
    try:
        await worker.transaction(insert_many, 5000)  # about 1 MB, in the WAL first
        deadline = asyncio.get_running_loop().time() + 10  # a loaded machine is slow
        while path.stat().st_size <= before and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(CHECKPOINT_PAUSE / 4)
        assert path.stat().st_size > before + 500_000  # copied in, with no commit's help
        assert len(rows(engine)) == 5000
    finally:
        worker.close()
