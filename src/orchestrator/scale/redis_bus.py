"""Run events between processes over Redis: pub/sub for live delivery, a journal for deltas.

    writer (a worker)                         follower (any API process)
    emit(token)  -> XADD journal, PUBLISH  -->  pub/sub -> local queues -> follow()
    emit(other)  -> DB commit,    PUBLISH  -->  pub/sub -> local queues -> follow()

Token and thinking deltas are published before the writer stores them (it does so in
batches). Each is first appended to the run's journal (a capped Redis stream whose ids
are `0-<seq>`), so a follower that skipped one finds it in the journal before the log
has it, and a writer that resumes a run after a crash adopts the deltas its predecessor
published but never stored: nobody sees an event the log then loses. Other events are
published only once stored. `forget` drops the journal once the log holds it all.

Fencing: a writer that holds the run's lease takes over the run's owner key
(`take_over`, done under the lock of the run's row, so the latest holder's comes last),
and each of its events is journalled and published by a script that first checks that
key names its lease. A holder that stalled past its lease and woke after another took
over publishes nothing more: its events never reach a follower, nor the journal from
which the next writer adopts.
Until `start()` (a process that never starts it, like `orchestrator run`), the bus only
reaches subscribers in its own process, as `EventBus` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from orchestrator.engine.events import RunEventOut, parse_event_json
from orchestrator.runs.bus import EventBus
from orchestrator.runs.lease import Lease
from orchestrator.runs.log import BUFFERED_TYPES

log = logging.getLogger(__name__)
JOURNAL_LENGTH = 10_000  # far more than a writer ever holds unstored
JOURNAL_SECONDS = 3600  # a journal nobody forgot (its writer died, nobody resumed) expires
READY_SECONDS = 2.0
OWNER_SECONDS = 7 * 24 * 3600  # an owner key nobody let go of (its holder died) expires
_HELLO = "hello"

# KEYS: owner key, journal. ARGV: owner, event JSON, seq, journalled (1/0), channel,
# journal length, journal seconds. Publishes only while the owner key names `owner`.
_PUBLISH_FENCED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[4] == '1' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '0-' .. ARGV[3], 'e', ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[7])
end
redis.call('PUBLISH', ARGV[5], ARGV[2])
return 1
"""
# KEYS: owner key, key to delete. ARGV: owner. Deletes it only while `owner` holds.
_DELETE_FENCED = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[2])
"""


@dataclass(frozen=True)
class _Outgoing:
    action: str  # event | forget | let_go
    run_id: str
    event: RunEventOut | None = None
    lease: Lease | None = None


class RedisEventBus(EventBus):
    """The `EventBus` of one process, connected to every other through Redis."""

    def __init__(self, redis: Redis, *, prefix: str = "orchestrator") -> None:
        super().__init__()
        self.redis = redis
        self.prefix = prefix
        self._outbox: asyncio.Queue[_Outgoing] = asyncio.Queue()
        self._publish_fenced = redis.register_script(_PUBLISH_FENCED)
        self._delete_fenced = redis.register_script(_DELETE_FENCED)
        self._pubsub: PubSub | None = None
        self._refs: Counter[str] = Counter()
        self._ready: dict[str, asyncio.Future[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False

    def channel(self, run_id: str) -> str:
        return f"{self.prefix}:run:{run_id}:events"

    def journal(self, run_id: str) -> str:
        return f"{self.prefix}:run:{run_id}:journal"

    def owner_key(self, run_id: str) -> str:
        return f"{self.prefix}:run:{run_id}:owner"

    async def start(self) -> None:
        """Connect the subscriber and start sending what this process publishes."""
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(f"{self.prefix}:{_HELLO}")  # opens the connection
        self._started = True
        self._tasks = [
            asyncio.create_task(self._send_forever(), name="event-bus-send"),
            asyncio.create_task(self._receive_forever(), name="event-bus-receive"),
        ]

    async def close(self) -> None:
        """Send what is still queued, then disconnect."""
        if not self._started:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.join(), 5)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    def publish(self, event: RunEventOut, lease: Lease | None = None) -> None:
        """Queue the event for Redis (sent only while `lease` holds the run, if given);
        subscribers here get it back from Redis too."""
        if not self._started:
            super().publish(event, lease)
            return
        self._outbox.put_nowait(_Outgoing("event", event.run_id, event, lease))

    def forget(self, run_id: str, lease: Lease | None = None) -> None:
        if self._started:
            self._outbox.put_nowait(_Outgoing("forget", run_id, lease=lease))

    async def take_over(self, lease: Lease) -> None:
        """Name `lease` in the run's owner key: earlier holders' events are dropped."""
        if self._started:
            await self.redis.set(self.owner_key(lease.run_id), lease.owner, ex=OWNER_SECONDS)

    def let_go(self, lease: Lease) -> None:
        """Delete the owner key if `lease` still holds it (after what is queued is sent)."""
        if self._started:
            self._outbox.put_nowait(_Outgoing("let_go", lease.run_id, lease=lease))

    async def unflushed(self, run_id: str, after: int) -> list[RunEventOut]:
        entries = await self.redis.xrange(self.journal(run_id), min=f"0-{after + 1}")
        events = (_parse(fields[b"e"]) for _, fields in entries)
        return [e for e in events if e is not None]

    @contextmanager
    def subscribe(self, run_id: str) -> Iterator[asyncio.Queue[RunEventOut | None]]:
        """A queue of the run's events from every process while the block runs."""
        self._refs[run_id] += 1
        if self._refs[run_id] == 1 and self._started:
            self._ready[run_id] = asyncio.get_running_loop().create_future()
            self._spawn(self._listen(run_id, True))
        try:
            with super().subscribe(run_id) as queue:
                yield queue
        finally:
            self._refs[run_id] -= 1
            if self._refs[run_id] <= 0:
                del self._refs[run_id]
                self._ready.pop(run_id, None)
                if self._started:
                    self._spawn(self._listen(run_id, False))

    async def ready(self, run_id: str) -> None:
        """Wait until Redis confirms the subscription (or give up after a while: we poll)."""
        future = self._ready.get(run_id)
        if future is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(future), READY_SECONDS)
        except TimeoutError:
            log.warning("no subscription confirmed for run %s; following by polling", run_id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._tasks_done)

    def _tasks_done(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event bus (un)subscribe failed", exc_info=task.exception())

    async def _listen(self, run_id: str, on: bool) -> None:
        assert self._pubsub is not None
        if on and run_id in self._refs:
            await self._pubsub.subscribe(self.channel(run_id))
        elif not on and run_id not in self._refs:
            await self._pubsub.unsubscribe(self.channel(run_id))

    async def _send_forever(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                await self._send(batch)
            except (RedisError, OSError):  # followers fall back on the log and its polling
                log.exception("could not publish %d run events to Redis", len(batch))
            for _ in batch:
                self._outbox.task_done()

    async def _send(self, batch: list[_Outgoing]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for out in batch:
                owner = self.owner_key(out.lease.run_id) if out.lease is not None else ""
                if out.action in {"forget", "let_go"}:
                    key = self.journal(out.run_id) if out.action == "forget" else owner
                    if out.lease is None:
                        pipe.delete(key)
                    else:
                        await self._delete_fenced([owner, key], [out.lease.owner], client=pipe)
                    continue
                item = out.event
                assert item is not None
                payload = item.model_dump_json()
                if out.lease is not None:
                    await self._publish_fenced(
                        [owner, self.journal(item.run_id)],
                        [
                            out.lease.owner,
                            payload,
                            item.seq,
                            int(item.type in BUFFERED_TYPES),
                            self.channel(item.run_id),
                            JOURNAL_LENGTH,
                            JOURNAL_SECONDS,
                        ],
                        client=pipe,
                    )
                    continue
                if item.type in BUFFERED_TYPES:
                    journal = self.journal(item.run_id)
                    pipe.xadd(
                        journal,
                        {"e": payload},
                        id=f"0-{item.seq}",
                        maxlen=JOURNAL_LENGTH,
                        approximate=True,
                    )
                    pipe.expire(journal, JOURNAL_SECONDS)
                pipe.publish(self.channel(item.run_id), payload)
            results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, Exception):
                log.error("Redis refused a run event command: %s", result)

    async def _receive_forever(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except (RedisError, OSError):
                log.exception("lost the Redis subscription; reconnecting")
                await asyncio.sleep(0.5)
                continue
            if message is not None:
                self._deliver(message)

    def _deliver(self, message: dict[str, object]) -> None:
        channel = message["channel"]
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        run_id = name.removeprefix(f"{self.prefix}:run:").removesuffix(":events")
        if message["type"] == "subscribe":
            future = self._ready.get(run_id)
            if future is not None and not future.done():
                future.set_result(None)
        elif message["type"] == "message":
            data = message["data"]
            assert isinstance(data, bytes | str)
            event = _parse(data)
            if event is not None:
                super().publish(event)


def _parse(raw: bytes | str) -> RunEventOut | None:
    """An event from Redis; one that is not a valid event (an unknown type, say, from a
    newer process) is dropped with a warning instead of ending the listener."""
    try:
        return parse_event_json(raw)
    except ValidationError as exc:
        log.warning("dropped a malformed run event from Redis: %s", exc.errors()[0]["msg"])
        return None
