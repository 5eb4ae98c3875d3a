"""Signals from API processes to the worker holding a run: cancel it, or re-read an approval.

One Redis pub/sub channel that every worker listens on; only the worker holding the run
acts. The database stays the truth (the approval row, the run's status), so a message
that reaches nobody costs only speed: waiters still poll their rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class ControlMessage(BaseModel):
    """What an API process asks of the workers."""

    action: Literal["cancel", "approval"]
    run_id: str | None = None
    approval_id: str | None = None


Handler = Callable[[ControlMessage], Awaitable[None]]


class RunControl:
    """Sends control messages, and (in workers) hands received ones to a handler."""

    def __init__(self, redis: Redis, *, prefix: str = "orchestrator") -> None:
        self.redis = redis
        self.channel = f"{prefix}:control"
        self._listener: asyncio.Task[None] | None = None

    async def send(self, message: ControlMessage) -> None:
        """Publish `message` to every worker."""
        await self.redis.publish(self.channel, message.model_dump_json())

    async def cancel(self, run_id: str) -> None:
        """Ask the worker holding `run_id` to cancel it."""
        await self.send(ControlMessage(action="cancel", run_id=run_id))

    async def announce_approval(self, approval_id: str) -> None:
        """Tell workers that the approval's row has its decision."""
        await self.send(ControlMessage(action="approval", approval_id=approval_id))

    async def listen(self, handler: Handler) -> None:
        """Start handing every message to `handler` (each in its own task)."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel)
        self._listener = asyncio.create_task(self._receive(pubsub, handler), name="run-control")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)

    async def _receive(self, pubsub: PubSub, handler: Handler) -> None:
        handling: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    raw = await pubsub.get_message(timeout=1.0)
                except (RedisError, OSError):
                    log.exception("lost the control channel; reconnecting")
                    await asyncio.sleep(0.5)
                    continue
                if raw is None or raw.get("type") != "message":
                    continue
                try:
                    message = ControlMessage.model_validate_json(raw["data"])
                except ValidationError:
                    log.warning("ignored a malformed control message: %r", raw["data"][:200])
                    continue
                task = asyncio.create_task(self._handle(handler, message))
                handling.add(task)
                task.add_done_callback(handling.discard)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    @staticmethod
    async def _handle(handler: Handler, message: ControlMessage) -> None:
        try:
            await handler(message)
        except Exception:  # one bad message must not stop the channel
            log.exception("control message %s failed", message.action)
