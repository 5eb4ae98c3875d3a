"""Deltas that come in one turn of the event loop become one event.

A model's chunks that arrive in one read from its socket are handled in one turn of the
loop: their token (or thinking) deltas are one event, one row and one frame, published at
the end of that turn. Deltas from different turns stay apart, so none waits for another;
seqs stay gapless, and nothing is published before an earlier event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from orchestrator.core.config import Settings
from orchestrator.engine.events import (
    CompleteData,
    RunEventOut,
    StatusData,
    ThinkingData,
    TokenData,
    UsageData,
)
from orchestrator.runs.bus import EventBus
from orchestrator.runs.log import RunChanges, RunEventLog
from tests.runs.test_group_commit import Db, _database, tool


@pytest.fixture
async def database(any_db_settings: Settings) -> AsyncIterator[Db]:
    database = await _database(any_db_settings)
    yield database
    await database.engine.dispose()


class Recording(EventBus):
    """The bus, recording what is published, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[RunEventOut] = []

    def publish(self, event: RunEventOut, lease: object = None) -> None:
        self.published.append(event)
        super().publish(event)


def shown(events: list[RunEventOut]) -> list[tuple[int, str, str]]:
    return [(e.seq, e.type, getattr(e.data, "text", "")) for e in events]


async def test_deltas_of_one_loop_turn_are_one_event_and_other_turns_stay_apart(
    database: Db,
) -> None:
    bus = Recording()
    log = RunEventLog(database.sessions, bus, flush_interval=0.001)
    (run_id,) = await database.runs(1)
    writer = await log.open(run_id)
    await writer.emit(StatusData(status="running"), RunChanges(status="running"))
    for text in ("Hel", "lo", " there"):  # one burst: no await that suspends between them
        await writer.emit(TokenData(text=text))
    assert shown(bus.published) == [(1, "status", "")]  # not before the turn ends
    await asyncio.sleep(0)
    assert shown(bus.published)[1:] == [(2, "token", "Hello there")]
    await writer.emit(TokenData(text=","))
    await asyncio.sleep(0)  # the next read from the model's socket
    await writer.emit(TokenData(text=" friend"))
    await writer.emit(ThinkingData(text="hmm"))  # another kind: an event of its own
    await writer.emit(tool(1))  # publishes what came before it first
    await writer.emit(
        CompleteData(status="succeeded", content="Hello there, friend", run_id=run_id),
        RunChanges(status="succeeded"),
    )
    await writer.close()
    expected = [
        (1, "status", ""),
        (2, "token", "Hello there"),
        (3, "token", ","),
        (4, "token", " friend"),
        (5, "thinking", "hmm"),
        (6, "tool", ""),
        (7, "complete", ""),
    ]
    assert shown(bus.published) == expected
    assert shown(await log.read(run_id)) == expected  # the rows hold the merged deltas
    assert await database.stored(run_id) == list(range(1, 8))


async def test_deltas_after_a_usage_event_merge_and_come_after_it(database: Db) -> None:
    """A usage event waits for the run's next write; the deltas of the next model call
    write it first, then merge as any others do (a resumed run replays a call's usage and
    goes straight on to the next call's tokens)."""
    bus = Recording()
    log = RunEventLog(database.sessions, bus, flush_interval=60)
    (run_id,) = await database.runs(1)
    writer = await log.open(run_id)
    await writer.emit(UsageData(model="m", prompt_tokens=3, completion_tokens=1))
    assert shown(bus.published) == []  # held until written
    for text in ("six", " six", " six"):  # one read from the model's socket
        await writer.emit(TokenData(text=text))
    assert shown(bus.published) == [(1, "usage", "")]  # written: published before the delta
    assert writer.open_delta is not None and writer.pending[-1] is writer.open_delta
    await asyncio.sleep(0)
    assert shown(bus.published) == [(1, "usage", ""), (2, "token", "six six six")]
    await writer.emit(TokenData(text="!"))  # a later read: an event of its own
    await writer.close()
    expected = [(1, "usage", ""), (2, "token", "six six six"), (3, "token", "!")]
    assert shown(await log.read(run_id)) == shown(bus.published) == expected


async def test_an_event_a_reader_got_never_grows_after(database: Db) -> None:
    bus = Recording()
    log = RunEventLog(database.sessions, bus, flush_interval=60)
    (run_id,) = await database.runs(1)
    writer = await log.open(run_id)
    await writer.emit(TokenData(text="a"))
    await writer.emit(TokenData(text="b"))
    assert writer.open_delta is not None and shown(bus.published) == []
    # The delta is open: a read that lets no loop turn (SQLite's, on this thread) leaves it
    # out; one that does (Postgres's) finds it published, whole. Never a part of it.
    assert shown(await log.read(run_id)) in ([], [(1, "token", "ab")])
    await asyncio.sleep(0)
    got = await log.read(run_id)
    assert writer.open_delta is None
    assert shown(got) == shown(bus.published) == [(1, "token", "ab")]
    await writer.emit(TokenData(text="c"))  # a later turn: an event of its own
    await writer.close()
    assert shown(got) == [(1, "token", "ab")]
    assert shown(await log.read(run_id)) == [(1, "token", "ab"), (2, "token", "c")]


async def test_a_follower_sees_a_burst_whole_and_in_order(database: Db) -> None:
    log = RunEventLog(database.sessions, EventBus(), flush_interval=0.001)
    (run_id,) = await database.runs(1)
    seen: list[RunEventOut] = []

    async def follow() -> None:
        async for event in log.follow(run_id):
            seen.append(event)

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    writer = await log.open(run_id)
    for burst in (["a", "b"], ["c"], ["d", "e", "f"]):
        for text in burst:
            await writer.emit(TokenData(text=text))
        await asyncio.sleep(0)
    await writer.emit(
        CompleteData(status="succeeded", content="abcdef", run_id=run_id),
        RunChanges(status="succeeded"),
    )
    await writer.close()
    await asyncio.wait_for(follower, 10)
    assert shown(seen) == [
        (1, "token", "ab"),
        (2, "token", "c"),
        (3, "token", "def"),
        (4, "complete", ""),
    ]
