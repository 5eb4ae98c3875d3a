"""WebSocket sessions: authentication, one sender, and the client messages of DESIGN.md.

The socket only follows runs; the runs themselves belong to the executor, so a dropped
connection loses nothing: the client reconnects and resumes after the last `seq` it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import TypeAdapter, ValidationError
from pydantic_core import from_json

from orchestrator.api.cookies import ACCESS_COOKIE
from orchestrator.api.deps import user_from_credential
from orchestrator.core.errors import OrchestratorError
from orchestrator.db.models import User
from orchestrator.engine.events import ErrorData
from orchestrator.runtime import Runtime
from orchestrator.schemas.runs import (
    ApprovalMessage,
    AuthMessage,
    CancelMessage,
    ChatRequest,
    ClientMessage,
    ResumeMessage,
    ServerMessage,
    SocketError,
)

log = logging.getLogger(__name__)
UNAUTHORIZED = 4401
NOT_FOUND = 4404
AUTH_SECONDS = 10
_messages: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


def protocol_error(
    message: str, code: str, run_id: str | None = None, *, reset_at: str | None = None
) -> SocketError:
    """An `error` event that belongs to no run's log (bad message, refused request);
    `reset_at`: when a quota that refused it frees."""
    return SocketError(
        data=ErrorData(message=message, code=code, reset_at=reset_at),
        timestamp=datetime.now(UTC),
        run_id=run_id,
    )


def _cookie_token(websocket: WebSocket) -> str | None:
    """The web app's session cookie, if the socket comes from our own origin."""
    cookie = websocket.cookies.get(ACCESS_COOKIE)
    origin = websocket.headers.get("origin")
    # SameSite=Strict already keeps other sites' sockets from carrying the cookie; the
    # origin check refuses them too in browsers that would.
    if cookie and (origin is None or urlsplit(origin).netloc == websocket.headers.get("host")):
        return cookie
    return None


async def authenticate(websocket: WebSocket, runtime: Runtime, token: str | None) -> User | None:
    """The user from `?token=`, the session cookie, or a first `{"type": "auth"}` message;
    None closes with 4401."""
    await websocket.accept()
    token = token or _cookie_token(websocket)
    if token is None:
        try:
            raw = await asyncio.wait_for(websocket.receive_text(), AUTH_SECONDS)
            token = AuthMessage.model_validate_json(raw).token
        except (TimeoutError, ValidationError, WebSocketDisconnect, KeyError):
            token = None
    if token is not None:
        try:
            return await user_from_credential(runtime, token)
        except OrchestratorError:
            pass
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code=UNAUTHORIZED, reason="authentication required")
    return None


class RunSocket:
    """One authenticated socket: forwards followed runs' events, handles client messages."""

    def __init__(self, websocket: WebSocket, runtime: Runtime, user: User) -> None:
        self.websocket = websocket
        self.runtime = runtime
        self.user = user
        self.outbox: asyncio.Queue[ServerMessage | None] = asyncio.Queue()
        self.followers: dict[str, asyncio.Task[None]] = {}

    async def serve(self, *, chat: bool) -> None:
        """Until the client goes: read its messages while one task sends everything."""
        sender = asyncio.create_task(self._send_all())
        try:
            while True:
                frame = await self.websocket.receive()
                if frame["type"] == "websocket.disconnect":
                    break
                if frame.get("text") is None:  # a binary frame: the protocol is JSON text
                    await self.outbox.put(
                        protocol_error("bad message: send JSON text frames", "invalid_message")
                    )
                    continue
                await self._handle(frame["text"], chat=chat)
        except WebSocketDisconnect:
            pass
        finally:
            for task in self.followers.values():
                task.cancel()
            await self.outbox.put(None)
            sender.cancel()
            await asyncio.gather(sender, *self.followers.values(), return_exceptions=True)

    def follow(self, run_id: str, after: int = 0) -> None:
        """Forward the run's events after `after` (replayed, then live)."""
        if run_id in self.followers:
            return
        task = asyncio.create_task(self._forward(run_id, after))
        self.followers[run_id] = task
        task.add_done_callback(lambda _: self.followers.pop(run_id, None))

    async def _forward(self, run_id: str, after: int) -> None:
        async for event in self.runtime.runs.follow(run_id, after):
            await self.outbox.put(event)

    async def _send_all(self) -> None:
        while (item := await self.outbox.get()) is not None:
            try:
                await self.websocket.send_text(item.model_dump_json())
            except (WebSocketDisconnect, RuntimeError):
                return

    async def _handle(self, raw: str, *, chat: bool) -> None:
        try:
            # pydantic's parser refuses deep nesting with a ValueError (json.loads would
            # raise RecursionError on a deeply nested text).
            data = from_json(raw)
            if isinstance(data, dict) and "type" not in data and "message" in data:
                data["type"] = "message"
            message = _messages.validate_python(data)
        except (ValueError, ValidationError) as exc:
            detail = (
                exc.errors(include_url=False, include_input=False)[0]["msg"]
                if isinstance(exc, ValidationError)
                else f"not JSON ({exc})"[:200]
            )
            await self.outbox.put(protocol_error(f"bad message: {detail}", "invalid_message"))
            return
        try:
            await self._dispatch(message, chat=chat)
        except OrchestratorError as exc:
            run_id = getattr(message, "run_id", None)
            reset_at = exc.fields.get("reset_at") if exc.code == "quota_exceeded" else None
            await self.outbox.put(
                protocol_error(
                    exc.message, exc.code, run_id, reset_at=str(reset_at) if reset_at else None
                )
            )

    async def _dispatch(self, message: ClientMessage, *, chat: bool) -> None:
        user_id = self.user.id
        runs = self.runtime.runs
        if isinstance(message, ChatRequest):
            if not chat:
                await self.outbox.put(
                    protocol_error("send messages on /chat/ws", "invalid_message")
                )
                return
            run = await runs.start_chat(user_id, message)
            self.follow(run.id)
        elif isinstance(message, CancelMessage):
            await runs.cancel(user_id, message.run_id)
        elif isinstance(message, ApprovalMessage):
            await runs.decide(user_id, message.approval_id, message.decision)
        elif isinstance(message, ResumeMessage):
            await runs.get(user_id, message.run_id)
            self.follow(message.run_id, message.after)
