"""The MCP client as the rest of the product sees it: servers as data, tools as `Tool`s.

`McpClient` stores server definitions (admins), users' credentials (encrypted), turns
discovered tools into registry tools, and runs their calls on the pool's connections
with the caller's own credentials.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.core.config import Settings
from orchestrator.core.errors import InvalidInput, NotFound, ToolError
from orchestrator.db.models import McpCredential, McpServer, utcnow
from orchestrator.db.session import fetch
from orchestrator.mcp._connection import MAX_LIST_PAGES, ConnectionPlan, ConnectionPool
from orchestrator.mcp._discovery import select_tools
from orchestrator.mcp._models import (
    MASK,
    MAX_LISTED_TOOLS,
    McpCredentialsIn,
    McpCredentialsOut,
    McpLimits,
    McpRefreshOut,
    McpServerIn,
    McpServerOut,
    McpServerUpdate,
    McpToolInfo,
)
from orchestrator.mcp._results import render_result
from orchestrator.mcp._secrets import SecretBox
from orchestrator.mcp._tools import McpTool, make_tool
from orchestrator.tools.base import Tool, ToolContext
from orchestrator.tools.netguard import SafeHttpClient

MAX_SKIPPED_SHOWN = 200
_FORBIDDEN_PATHS = (Path("/proc"), Path("/sys"), Path("/dev"))


def _invalid(exc: ValidationError) -> InvalidInput:
    problem = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in problem["loc"])
    return InvalidInput(f"{where + ': ' if where else ''}{problem['msg']}")


_ENABLED = select(McpServer.id, McpServer.updated_at).where(McpServer.enabled)


class McpClient:
    """MCP servers, their tools and their calls, for one process."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.pool = ConnectionPool(settings)
        self._box: SecretBox | None = None
        self._tools: tuple[tuple[Any, ...], list[Tool]] = ((), [])

    @property
    def box(self) -> SecretBox:
        """The cipher for secrets at rest (built on first use)."""
        if self._box is None:
            self._box = SecretBox(self.settings.signing_key())
        return self._box

    # -- the registry side -------------------------------------------------------------

    async def tools(self) -> list[Tool]:
        """The tools of every enabled server, as discovered at its last refresh."""
        rows = await fetch(self.sessions, _ENABLED)  # every chat turn asks
        signature = tuple(sorted((r.id, r.updated_at) for r in rows))
        if signature == self._tools[0]:
            return self._tools[1]
        async with self.sessions() as db:
            servers = list(await db.scalars(select(McpServer).where(McpServer.enabled)))
        built: list[Tool] = []
        for server in servers:
            for entry in server.tools:
                info = McpToolInfo.model_validate(entry)
                built.append(self._tool(server, info))
        self._tools = (signature, built)
        return built

    def _tool(self, server: McpServer, info: McpToolInfo) -> McpTool:
        server_id, remote = server.id, info.remote_name

        async def invoke(ctx: ToolContext, arguments: dict[str, Any]) -> str:
            return await self.call(server_id, remote, ctx, arguments)

        return make_tool(
            name=info.name,
            description=info.description,
            risk=server.risk,
            schema=dict(info.input_schema),
            server_id=server.id,
            server_name=server.name,
            remote_name=remote,
            invoke=invoke,
        )

    async def call(
        self, server_id: str, tool: str, ctx: ToolContext, arguments: dict[str, Any]
    ) -> str:
        """Call one tool as `ctx`'s user; the result as text, or `ToolError` with the reason."""
        plan = await self._plan(server_id, ctx.user_id, ctx.workspace)
        connection = await self.pool.connection(plan, ctx.user_id)
        result = await connection.request(
            f"the call to {tool}",
            lambda session: session.call_tool(tool, arguments),
            self.settings.mcp_call_timeout,
        )
        text, is_error = render_result(result)
        if is_error:
            raise ToolError(f"the MCP tool {tool} reported an error: {text}")
        return text

    async def _plan(
        self, server_id: str, user_id: int, workspace: Path, *, allow_disabled: bool = False
    ) -> ConnectionPlan:
        async with self.sessions() as db:
            server = await db.get(McpServer, server_id)
            if server is None or not (server.enabled or allow_disabled):
                raise ToolError("this MCP server was removed or disabled")
            credential = await db.get(McpCredential, (server_id, user_id))
        secrets = self._server_secrets(server)
        mine: dict[str, Any] = {}
        if credential is not None:
            mine = self.box.open(credential.secret, _credential_context(server_id, user_id))
        mine_at = credential.updated_at.isoformat() if credential else ""
        version = f"{server.updated_at.isoformat()}|{mine_at}"
        return ConnectionPlan(
            server_id=server.id,
            server_name=server.name,
            transport=server.transport,
            version=version,
            workspace=workspace,
            command=list(server.command),
            env={**secrets.get("env", {}), **mine.get("env", {})},
            paths=[Path(p) for p in server.paths],
            network=server.network,
            url=server.url,
            headers={**secrets.get("headers", {}), **mine.get("headers", {})},
        )

    def _server_secrets(self, server: McpServer) -> dict[str, Any]:
        if not server.secrets:
            return {}
        return self.box.open(server.secrets, f"server:{server.id}")

    async def close(self) -> None:
        """Stop every MCP server this process started."""
        await self.pool.close()

    # -- admin routes ------------------------------------------------------------------

    async def list_servers(self, user_id: int, *, admin: bool) -> list[McpServerOut]:
        """Every server (admins) or the enabled ones (users), for the caller."""
        async with self.sessions() as db:
            query = select(McpServer).order_by(McpServer.name)
            if not admin:
                query = query.where(McpServer.enabled)
            servers = list(await db.scalars(query))
            mine = set(
                await db.scalars(
                    select(McpCredential.server_id).where(McpCredential.user_id == user_id)
                )
            )
        return [_out(s, s.id in mine) for s in servers]

    async def get_server(self, server_id: str, user_id: int, *, admin: bool) -> McpServerOut:
        """One server; a disabled one is hidden from users."""
        async with self.sessions() as db:
            server = await self._find(db, server_id, admin=admin)
            mine = await db.get(McpCredential, (server_id, user_id))
        return _out(server, mine is not None)

    async def create(self, body: McpServerIn) -> McpServerOut:
        """Register a server (422 for a bad definition or a taken name)."""
        await self._check(body)
        async with self.sessions() as db:
            server = McpServer(id=_new_id(), tools=[])
            self._apply(server, body, keep={})
            db.add(server)
            await self._commit(db, body.name)
            return _out(server, False)

    async def update(self, server_id: str, body: McpServerUpdate) -> McpServerOut:
        """Change a server; its live connections restart with the new definition."""
        async with self.sessions() as db:
            server = await self._find(db, server_id, admin=True)
            stored = self._server_secrets(server)
            current = {
                "name": server.name,
                "transport": server.transport,
                "command": server.command or None,
                "env": stored.get("env") or None,
                "paths": server.paths,
                "url": server.url,
                "headers": stored.get("headers") or None,
                "risk": server.risk,
                "network": server.network,
                "enabled": server.enabled,
            }
            changes = body.model_dump(exclude_unset=True)
            if "transport" in changes and changes["transport"] != server.transport:
                for key in ("command", "env", "paths", "url", "headers"):
                    current[key] = [] if key == "paths" else None
            try:
                merged = McpServerIn.model_validate({**current, **changes})
            except ValidationError as exc:
                raise _invalid(exc) from None
            await self._check(merged)
            self._apply(server, merged, keep=stored)
            if "transport" in changes or "url" in changes or "command" in changes:
                server.tools, server.refreshed_at = [], None
            server.updated_at = utcnow()
            await self._commit(db, merged.name)
            out = _out(server, False)
        await self.pool.close_server(server_id)
        return out

    async def delete(self, server_id: str) -> None:
        """Remove a server, its tools and everyone's credentials for it."""
        async with self.sessions() as db:
            server = await self._find(db, server_id, admin=True)
            await db.delete(server)
            await db.commit()
        await self.pool.close_server(server_id)

    async def refresh(self, server_id: str, user_id: int, workspace: Path) -> McpRefreshOut:
        """Connect (as this admin), list the tools, keep those within the limits."""
        async with self.sessions() as db:
            server = await self._find(db, server_id, admin=True)
            name = server.name
        plan = await self._plan(server_id, user_id, workspace, allow_disabled=True)
        connection = await self.pool.connection(plan, user_id)
        listed = await connection.request(
            "the tool listing", _list_all, self.settings.mcp_call_timeout
        )
        kept, skipped = select_tools(name, listed)
        async with self.sessions() as db:
            server = await self._find(db, server_id, admin=True)
            server.tools = [t.model_dump(mode="json") for t in kept]
            server.refreshed_at = server.updated_at = utcnow()
            await db.commit()
            base = _out(server, False)
        return McpRefreshOut(
            **base.model_dump(),
            tool_details=kept,
            skipped=skipped[:MAX_SKIPPED_SHOWN],
            skipped_count=len(skipped),
            limits=McpLimits(),
        )

    async def set_credentials(
        self, server_id: str, user_id: int, body: McpCredentialsIn, *, admin: bool
    ) -> McpCredentialsOut:
        """Store the user's own headers/env for a server, encrypted; replaces earlier ones."""
        value = {"headers": body.headers or {}, "env": body.env or {}}
        names = {k: sorted(v) for k, v in value.items()}
        async with self.sessions() as db:
            await self._find(db, server_id, admin=admin)
            row = await db.get(McpCredential, (server_id, user_id))
            sealed = self.box.seal(value, _credential_context(server_id, user_id))
            if row is None:
                row = McpCredential(server_id=server_id, user_id=user_id, secret=sealed)
                db.add(row)
            row.secret, row.names, row.updated_at = sealed, names, utcnow()
            await db.commit()
            return McpCredentialsOut(
                server_id=server_id,
                headers=names["headers"],
                env=names["env"],
                updated_at=row.updated_at,
            )

    async def delete_credentials(self, server_id: str, user_id: int, *, admin: bool) -> None:
        """Forget the user's own secret for a server."""
        async with self.sessions() as db:
            await self._find(db, server_id, admin=admin)
            row = await db.get(McpCredential, (server_id, user_id))
            if row is None:
                raise NotFound("no credentials stored for this server")
            await db.delete(row)
            await db.commit()

    async def _find(self, db: AsyncSession, server_id: str, *, admin: bool) -> McpServer:
        server = await db.get(McpServer, server_id)
        if server is None or (not admin and not server.enabled):
            raise NotFound("MCP server not found")
        return server

    async def _check(self, body: McpServerIn) -> None:
        """What the model cannot check alone: the URL's address, the host paths."""
        if body.url is not None:
            try:
                await SafeHttpClient.from_settings(self.settings).vet(httpx.URL(body.url))
            except ToolError as exc:
                raise InvalidInput(f"url: {exc.message}") from None
            except httpx.InvalidURL as exc:
                raise InvalidInput(f"url: invalid URL: {exc}") from None
        await asyncio.to_thread(_check_paths, body.paths, self.settings.data_dir)

    def _apply(self, server: McpServer, body: McpServerIn, keep: dict[str, Any]) -> None:
        env = _unmask(body.env or {}, keep.get("env", {}))
        headers = _unmask(body.headers or {}, keep.get("headers", {}))
        server.name, server.transport = body.name, body.transport
        server.command = list(body.command or [])
        server.url = body.url
        server.paths = [os.path.normpath(p) for p in body.paths]
        server.risk = body.risk or "exec"
        server.network, server.enabled = body.network, body.enabled
        server.secret_names = {"env": sorted(env), "headers": sorted(headers)}
        secrets = {"env": env, "headers": headers}
        server.secrets = self.box.seal(secrets, f"server:{server.id}") if env or headers else None

    async def _commit(self, db: AsyncSession, name: str) -> None:
        try:
            await db.commit()
        except IntegrityError:
            raise InvalidInput(f"name: an MCP server named {name!r} already exists") from None


async def _list_all(session: Any) -> list[Any]:
    """Every tool the server lists, following pagination within the limits."""
    tools: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_LIST_PAGES):
        page, cursor = await _list_page(session, cursor)
        tools.extend(page)
        if not cursor or len(tools) >= MAX_LISTED_TOOLS:
            break
    return tools[:MAX_LISTED_TOOLS]


async def _list_page(session: Any, cursor: str | None) -> tuple[list[Any], str | None]:
    """One page of the listing: the SDK's typed tools, or raw ones if it refused the page."""
    import mcp_types
    from pydantic import ValidationError as SchemaMismatch

    params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
    try:
        page = await session.list_tools(params=params)
        return list(page.tools), page.next_cursor
    except SchemaMismatch:
        # The SDK validates a listing as a whole: one malformed tool would hide all the
        # others. Ask again without that check, and judge each tool on its own.
        request = mcp_types.ListToolsRequest(params=params)
        data = request.model_dump(by_alias=True, mode="json", exclude_none=True)
        options: dict[str, Any] = {}
        session._stamp(data, options)
        raw = await session._dispatcher.send_raw_request(
            data["method"], data.get("params"), options
        )
        tools = raw.get("tools") if isinstance(raw, dict) else None
        if not isinstance(tools, list):
            raise
        following = raw.get("nextCursor")
        return tools, following if isinstance(following, str) else None


def _check_paths(paths: list[str], data_dir: Path) -> None:
    """Host folders a server may see: existing, and never DATA_DIR or the kernel's."""
    data = data_dir.resolve()
    for raw in paths:
        real = Path(os.path.normpath(raw)).resolve()
        if not real.exists():
            raise InvalidInput(f"paths: {raw} does not exist")
        if real == Path("/") or any(real.is_relative_to(p) for p in _FORBIDDEN_PATHS):
            raise InvalidInput(f"paths: {raw} cannot be shown to a server")
        if real.is_relative_to(data) or data.is_relative_to(real):
            raise InvalidInput(f"paths: {raw} would show DATA_DIR (secrets, workspaces)")


def _unmask(given: dict[str, str], stored: dict[str, str]) -> dict[str, str]:
    """A masked value means "keep what is stored"."""
    out: dict[str, str] = {}
    for name, value in given.items():
        if value == MASK:
            if name not in stored:
                raise InvalidInput(f"{name}: no stored value to keep; give the value")
            out[name] = stored[name]
        else:
            out[name] = value
    return out


def _credential_context(server_id: str, user_id: int) -> str:
    return f"credential:{server_id}:{user_id}"


def _new_id() -> str:
    return str(uuid.uuid4())


def _out(server: McpServer, has_credentials: bool) -> McpServerOut:
    names = server.secret_names or {}
    return McpServerOut(
        id=server.id,
        name=server.name,
        transport=server.transport,  # type: ignore[arg-type]
        command=list(server.command) or None,
        env=dict.fromkeys(names.get("env", []), MASK),
        paths=list(server.paths),
        url=server.url,
        headers=dict.fromkeys(names.get("headers", []), MASK),
        risk=server.risk,  # type: ignore[arg-type]
        network=server.network,
        enabled=server.enabled,
        tools=[t["name"] for t in server.tools],
        refreshed_at=server.refreshed_at,
        created_at=server.created_at,
        updated_at=server.updated_at,
        has_credentials=has_credentials,
    )
