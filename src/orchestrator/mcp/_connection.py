"""Live MCP sessions: one per (server, user), started on first use, stopped when idle.

A connection runs in a task of its own (the SDK's transports and session are
context managers bound to the task that enters them); calls from any task go through
it. Whatever goes wrong - the server exits, writes garbage, sends too much, or does not
answer in time - the connection is closed (a stdio server's whole process tree is
killed) and the caller gets `McpServerError` with the reason; the next call starts a
fresh one. Nothing here imports the SDK until a connection is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.core.config import Settings
from orchestrator.core.errors import McpServerError, OrchestratorError

log = logging.getLogger(__name__)

CLOSE_SECONDS = 10.0
MAX_LIST_PAGES = 20


@dataclass(frozen=True)
class ConnectionPlan:
    """Everything needed to connect one user to one server (secrets already opened)."""

    server_id: str
    server_name: str
    transport: str
    version: str  # changes when the definition or the user's credentials change
    workspace: Path
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict, repr=False)
    paths: list[Path] = field(default_factory=list)
    network: bool = False
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    def redact(self, text: str) -> str:
        """`text` with every secret value of this plan blanked out."""
        for value in (*self.env.values(), *self.headers.values()):
            if len(value) >= 4:
                text = text.replace(value, "[secret]")
        return text


class McpConnection:
    """One initialised MCP session, alive until closed or broken."""

    def __init__(self, plan: ConnectionPlan, settings: Settings) -> None:
        self.plan = plan
        self._settings = settings
        self._ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._closing = asyncio.Event()
        self.closed = asyncio.Event()
        self.failure: str | None = None
        self.session: Any = None
        self.last_used = time.monotonic()
        self.busy = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        """Started, not closed, not broken."""
        return self.session is not None and not self.closed.is_set() and self.failure is None

    def fail(self, reason: str) -> None:
        """Mark the connection broken (the first reason wins) and make it close."""
        if self.failure is None:
            self.failure = self.plan.redact(reason)
        self._closing.set()

    async def start(self, timeout: float) -> None:  # noqa: ASYNC109 - the connect budget
        """Connect and initialise; `McpServerError` if that fails or takes too long."""
        self._task = asyncio.create_task(self._run(), name=f"mcp-{self.plan.server_name}")
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except TimeoutError:
            self.fail(f"it did not finish starting within {timeout:g} s")
            await self.close()
            raise self._error("could not be started") from None
        except McpServerError:
            await self.close()
            raise
        except OrchestratorError as exc:  # sandbox missing, address blocked...
            await self.close()
            raise McpServerError(self._describe(f"could not be started: {exc.message}")) from None

    async def _run(self) -> None:
        try:
            from mcp.client.session import ClientSession

            async with self._transport() as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                self.session = session
                if not self._ready.done():
                    self._ready.set_result(None)
                await self._closing.wait()
        except OrchestratorError as exc:
            self._settle(exc)
        except Exception as exc:  # the SDK's and the transports' own errors
            self.fail(self.failure or f"{type(exc).__name__}: {exc}")
            self._settle(self._error("could not be reached"))
        finally:
            self.session = None
            self.closed.set()
            self._settle(self._error("closed before it was ready"))

    def _settle(self, error: BaseException) -> None:
        if not self._ready.done():
            self._ready.set_exception(error)
            self._ready.exception()  # retrieved: no "never retrieved" warning

    def _transport(self) -> contextlib.AbstractAsyncContextManager[tuple[Any, Any]]:
        plan = self.plan
        if plan.transport == "stdio":
            from orchestrator.mcp._stdio import sandboxed_stdio

            return sandboxed_stdio(
                self._settings,
                plan.command,
                plan.workspace,
                env=plan.env,
                paths=plan.paths,
                network=plan.network,
                on_failure=self.fail,
            )
        from orchestrator.mcp._http import guarded_http

        assert plan.url is not None
        return guarded_http(
            self._settings,
            plan.url,
            plan.headers,
            request_seconds=self._settings.mcp_call_timeout,
            on_failure=self.fail,
        )

    async def request(self, what: str, call: Callable[[Any], Any], timeout: float) -> Any:  # noqa: ASYNC109
        """Run `call(session)`; the server is cut off if it fails, lies or hangs."""
        if not self.alive:
            raise self._error("is not connected")
        self.busy += 1
        self.last_used = time.monotonic()
        work = asyncio.ensure_future(call(self.session))
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            done, _ = await asyncio.wait(
                {work, closed}, timeout=timeout, return_when="FIRST_COMPLETED"
            )
        finally:
            closed.cancel()
            self.busy -= 1
            self.last_used = time.monotonic()
        if work not in done:
            work.cancel()
            if not done:
                self.fail(f"it did not answer {what} within {timeout:g} s and was stopped")
            await self.close()
            raise self._error("failed")
        try:
            return work.result()
        except Exception as exc:
            if self.failure is None and _is_protocol_error(exc):
                # The server answered with a JSON-RPC error: the connection is fine.
                raise McpServerError(
                    self._describe(f"answered {what} with an error: {exc}")
                ) from None
            self.fail(self.failure or f"{type(exc).__name__}: {exc}")
            await self.close()
            raise self._error("failed") from None

    async def close(self) -> None:
        """Close the session and stop the server (its whole tree); bounded in time."""
        self._closing.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), CLOSE_SECONDS)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._task, CLOSE_SECONDS)
        except BaseException:  # noqa: S110 - the task's own failure is recorded in self.failure
            pass

    def _describe(self, what: str) -> str:
        return self.plan.redact(f"the MCP server {self.plan.server_name} {what}")

    def _error(self, what: str) -> McpServerError:
        reason = f": {self.failure}" if self.failure else ""
        return McpServerError(self._describe(what + reason))


def _is_protocol_error(exc: Exception) -> bool:
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED

    return isinstance(exc, MCPError) and getattr(exc, "code", None) not in (CONNECTION_CLOSED,)


class ConnectionPool:
    """Connections by (server, user): lazy start, restart after a failure, idle stop."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._connections: dict[tuple[str, int], McpConnection] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}
        self._reaper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return sum(1 for c in self._connections.values() if c.alive)

    async def connection(self, plan: ConnectionPlan, user_id: int) -> McpConnection:
        """The live connection for this plan, started (or restarted) if needed."""
        key = (plan.server_id, user_id)
        current = self._connections.get(key)
        if current is not None and current.alive and current.plan.version == plan.version:
            return current
        async with self._locks.setdefault(key, asyncio.Lock()):
            current = self._connections.get(key)
            if current is not None and current.alive and current.plan.version == plan.version:
                return current
            if current is not None:
                self._connections.pop(key, None)
                await current.close()
            fresh = McpConnection(plan, self._settings)
            await fresh.start(self._settings.mcp_connect_timeout)
            self._connections[key] = fresh
            self._ensure_reaper()
            return fresh

    async def close_server(self, server_id: str) -> None:
        """Stop every connection to one server (its definition changed or went away)."""
        keys = [k for k in self._connections if k[0] == server_id]
        await asyncio.gather(*(self._connections.pop(k).close() for k in keys))

    async def close(self) -> None:
        """Stop everything (the process is shutting down)."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        connections = list(self._connections.values())
        self._connections.clear()
        await asyncio.gather(*(c.close() for c in connections))

    async def close_idle(self) -> int:
        """Stop connections unused for MCP_IDLE_SECONDS (and dead ones); how many."""
        limit = time.monotonic() - self._settings.mcp_idle_seconds
        stale = [
            key
            for key, conn in self._connections.items()
            if not conn.alive or (conn.busy == 0 and conn.last_used < limit)
        ]
        await asyncio.gather(*(self._connections.pop(k).close() for k in stale))
        return len(stale)

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.create_task(self._reap(), name="mcp-idle-reaper")

    async def _reap(self) -> None:
        period = max(0.5, min(30.0, self._settings.mcp_idle_seconds / 4))
        while self._connections:
            await asyncio.sleep(period)
            try:
                await self.close_idle()
            except Exception:  # the reaper must outlive one bad close
                log.exception("closing idle MCP connections failed")
