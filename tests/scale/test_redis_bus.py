"""Run events through Redis between two event logs that share only the database and
Redis, as an API process and a worker do: deltas published but not yet stored reach a
late follower from the journal, and a writer that resumes adopts those a crashed one left."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from sqlalchemy import update

from orchestrator.core.config import Settings
from orchestrator.db.models import Run
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.engine.events import CompleteData, RunEventOut, TokenData, TokenEvent
from orchestrator.runs.lease import Lease, LeaseLost
from orchestrator.runs.log import RunEventLog
from orchestrator.scale.redis_bus import RedisEventBus
from orchestrator.services.accounts import create_user
from tests.conftest import REDIS_URL, require_service

BUS_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/12"
pytestmark = pytest.mark.redis


class Process:
    """An event log and its Redis bus, as one process has them."""

    def __init__(self, settings: Settings, *, flush_interval: float = 0.05) -> None:
        self.engine = create_engine(settings)
        self.redis = aioredis.Redis.from_url(BUS_REDIS_URL)
        self.bus = RedisEventBus(self.redis)
        self.log = RunEventLog(
            create_session_factory(self.engine), self.bus, flush_interval=flush_interval
        )

    async def close(self) -> None:
        await self.bus.close()
        await self.redis.aclose()
        await self.engine.dispose()


def _text(event: RunEventOut) -> str:
    assert isinstance(event, TokenEvent), event
    return event.data.text


def _text_or_none(event: RunEventOut) -> str | None:
    return event.data.text if isinstance(event, TokenEvent) else None


@pytest.fixture
async def run_id(settings: Settings) -> AsyncIterator[str]:
    """A run in a fresh database, with Redis database 12 flushed."""
    client = aioredis.Redis.from_url(BUS_REDIS_URL)
    try:
        await client.flushdb()
    except (aioredis.RedisError, OSError):
        require_service(f"Redis at {BUS_REDIS_URL}", False)
    finally:
        await client.aclose()
    engine = create_engine(settings)
    async with create_session_factory(engine)() as db:
        user = await create_user(db, "busowner", "password-1")
        run = Run(user_id=user.id, kind="task", goal="g", agent="assistant")
        db.add(run)
        await db.commit()
        yield run.id
    await engine.dispose()


async def test_follower_gets_unstored_tokens_from_journal_when_late(
    settings: Settings, run_id: str
) -> None:
    worker, api = Process(settings, flush_interval=3600), Process(settings)
    await worker.bus.start()
    await api.bus.start()
    try:
        writer = await worker.log.open(run_id)
        for word in ("one", "two", "three"):
            await writer.emit(TokenData(text=word))
            await asyncio.sleep(0)  # one read from the model each: three events
        await worker.bus._outbox.join()  # published, and only in Redis: never stored
        assert await api.log.read(run_id) == []
        seen: list[RunEventOut] = []
        follow = api.log.follow(run_id)
        seen.append(await anext(follow))  # from the journal
        await writer.emit(TokenData(text="four"))
        await writer.emit(CompleteData(status="succeeded", content="done", run_id=run_id))
        seen.extend([event async for event in follow])
        assert [e.seq for e in seen] == [1, 2, 3, 4, 5]
        assert [_text(e) for e in seen[:4]] == ["one", "two", "three", "four"]
        assert [e.seq for e in await api.log.read(run_id)] == [1, 2, 3, 4, 5]
        await writer.close()
    finally:
        await worker.close()
        await api.close()


async def test_resumed_writer_adopts_tokens_published_by_crashed_writer(
    settings: Settings, run_id: str
) -> None:
    crashed = Process(settings, flush_interval=3600)
    await crashed.bus.start()
    writer = await crashed.log.open(run_id)
    for word in ("lost", "unless", "adopted"):
        await writer.emit(TokenData(text=word))
        await asyncio.sleep(0)  # one read from the model each: three events
    await crashed.bus._outbox.join()
    assert writer._flush_task is not None
    writer._flush_task.cancel()  # as a kill -9 would: the tokens were never stored
    await crashed.close()
    resumed = Process(settings)
    await resumed.bus.start()
    try:
        writer = await resumed.log.open(run_id)
        assert writer.last_seq == 3
        await writer.emit(TokenData(text="next"))
        await writer.close()
        stored = await resumed.log.read(run_id)
        assert [(e.seq, _text(e)) for e in stored] == [
            (1, "lost"),
            (2, "unless"),
            (3, "adopted"),
            (4, "next"),
        ]
        await resumed.bus._outbox.join()
        assert await resumed.bus.unflushed(run_id, 0) == []  # the journal is dropped
    finally:
        await resumed.close()


async def test_unstarted_bus_delivers_within_its_process(settings: Settings, run_id: str) -> None:
    local = Process(settings)  # as `orchestrator run` has it: the bus is never started
    try:
        writer = await local.log.open(run_id)
        follow = local.log.follow(run_id)
        await writer.emit(TokenData(text="here"))
        await writer.emit(CompleteData(status="succeeded", content="here", run_id=run_id))
        seen = [event async for event in follow]
        assert [e.seq for e in seen] == [1, 2]
        await writer.close()
    finally:
        await local.close()


async def test_writer_that_lost_its_lease_neither_publishes_nor_writes(
    settings: Settings, run_id: str
) -> None:
    stale, new, api = Process(settings, flush_interval=3600), Process(settings), Process(settings)
    for process in (stale, new, api):
        await process.bus.start()
    try:

        async def lease_to(owner: str) -> None:
            async with stale.log.sessions() as db:
                await db.execute(update(Run).where(Run.id == run_id).values(lease_owner=owner))
                await db.commit()

        await lease_to("stale")
        old = await stale.log.open(run_id, Lease(run_id, "stale"))
        await old.emit(TokenData(text="seen"))
        await stale.bus._outbox.join()
        follow = api.log.follow(run_id)
        assert _text(await anext(follow)) == "seen"
        # It stalled past its lease; another process took the run over meanwhile.
        await lease_to("new")
        writer = await new.log.open(run_id, Lease(run_id, "new"))
        assert writer.last_seq == 1  # it adopted what the stale one had published
        await old.emit(TokenData(text="stale"))  # same seq as the new holder's next
        await stale.bus._outbox.join()
        with pytest.raises(LeaseLost):
            await old.flush()
        with pytest.raises(LeaseLost):
            await old.emit(TokenData(text="again"))
        await old.close()
        await writer.emit(TokenData(text="fresh"))
        await writer.emit(CompleteData(status="succeeded", content="done", run_id=run_id))
        seen = [event async for event in follow]
        assert [(e.seq, _text_or_none(e)) for e in seen] == [(2, "fresh"), (3, None)]
        stored = await api.log.read(run_id)
        assert [(e.seq, _text_or_none(e)) for e in stored] == [
            (1, "seen"),
            (2, "fresh"),
            (3, None),
        ]
        await writer.close()
        await new.bus._outbox.join()
        assert await new.redis.get(new.bus.owner_key(run_id)) is None  # let go at the end
    finally:
        for process in (stale, new, api):
            await process.close()


async def test_an_unknown_event_from_redis_is_dropped_and_the_follower_goes_on(
    settings: Settings, run_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A newer process's event type (or garbage) on the run's channel and journal is
    refused at the edge: it never reaches a follower, and what follows still does."""
    api = Process(settings)
    await api.bus.start()
    try:
        foreign = (
            '{"type": "progress", "data": {"percent": 50}, "timestamp": "2026-01-01T00:00:00Z", '
            f'"run_id": "{run_id}", "seq": 1}}'
        )
        await api.redis.xadd(api.bus.journal(run_id), {"e": foreign}, id="0-1")
        assert await api.bus.unflushed(run_id, 0) == []
        with api.bus.subscribe(run_id) as queue:
            await api.bus.ready(run_id)
            await api.redis.publish(api.bus.channel(run_id), foreign)
            await api.redis.publish(api.bus.channel(run_id), b"\x00 not json")
            writer = await api.log.open(run_id)
            await writer.emit(TokenData(text="real"))
            first = await queue.get()
            assert first is not None and _text(first) == "real" and first.seq == 1
            await writer.close()
        assert "dropped a malformed run event" in caplog.text
    finally:
        await api.close()
