"""`/mcp`: authenticates each request by its bearer key, then hands it to the SDK's
streamable-HTTP manager, started on first use and stopped with the app."""

from __future__ import annotations

import asyncio
import json
from contextvars import ContextVar
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

from orchestrator.api.deps import user_from_credential
from orchestrator.core.errors import OrchestratorError
from orchestrator.db.models import User
from orchestrator.runtime import Runtime

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

CURRENT_USER: ContextVar[User] = ContextVar("mcp_current_user")


class McpEndpoint:
    """The ASGI app behind `/mcp`; `aclose()` at shutdown."""

    def __init__(self) -> None:
        self._manager: StreamableHTTPSessionManager | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopped: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def started(self) -> bool:
        """Whether the SDK was loaded and its manager runs."""
        return self._manager is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        runtime: Runtime = scope["state"]["runtime"]
        user = await _authenticate(runtime, scope)
        if user is None:
            await _unauthorized(send)
            return
        manager = await self._manager_for(runtime)
        token = CURRENT_USER.set(user)  # the SDK's handler tasks inherit it
        try:
            await manager.handle_request(scope, receive, send)
        finally:
            CURRENT_USER.reset(token)

    async def _manager_for(self, runtime: Runtime) -> StreamableHTTPSessionManager:
        if self._manager is not None:
            return self._manager
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._manager is None:
                from orchestrator.mcp_server._sdk import build_session_manager
                from orchestrator.mcp_server._toolbox import McpToolbox

                manager = build_session_manager(McpToolbox(runtime), CURRENT_USER)
                running = asyncio.Event()
                self._stopped = asyncio.Event()
                self._task = asyncio.create_task(self._serve(manager, running, self._stopped))
                await running.wait()
                self._manager = manager
        return self._manager

    @staticmethod
    async def _serve(
        manager: StreamableHTTPSessionManager, running: asyncio.Event, stopped: asyncio.Event
    ) -> None:
        async with manager.run():
            running.set()
            await stopped.wait()

    async def aclose(self) -> None:
        """Stop the manager (ending open MCP requests), if it ever started."""
        if self._stopped is not None and self._task is not None:
            self._stopped.set()
            await asyncio.gather(self._task, return_exceptions=True)
        self._manager = self._task = self._stopped = None


async def _authenticate(runtime: Runtime, scope: Scope) -> User | None:
    """The user the `Authorization: Bearer` credential names, or None."""
    header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    try:
        return await user_from_credential(runtime, credential.strip())
    except OrchestratorError:
        return None


async def _unauthorized(send: Send) -> None:
    body = json.dumps({"detail": "a valid API key is required", "code": "unauthorized"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
