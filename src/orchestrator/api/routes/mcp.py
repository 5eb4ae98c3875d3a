"""MCP servers (admins manage them) and each user's own credentials for them."""

from __future__ import annotations

import asyncio

from fastapi import Response

from orchestrator.api.deps import AdminUser, CurrentUser, RuntimeDep
from orchestrator.api.routing import ApiRouter
from orchestrator.mcp import (
    McpCredentialsIn,
    McpCredentialsOut,
    McpRefreshOut,
    McpServerIn,
    McpServerOut,
    McpServerUpdate,
)
from orchestrator.schemas.common import Page
from orchestrator.tools.workspace import Workspace

router = ApiRouter(prefix="/mcp/servers", tags=["mcp"])


@router.get("")
async def list_servers(user: CurrentUser, runtime: RuntimeDep) -> Page[McpServerOut]:
    """Every server (admins) or the enabled ones (users)."""
    servers = await runtime.mcp.list_servers(user.id, admin=user.role == "admin")
    return Page(data=servers, count=len(servers))


@router.post("", status_code=201)
async def create_server(body: McpServerIn, _: AdminUser, runtime: RuntimeDep) -> McpServerOut:
    """Register a server (admins); `POST .../refresh` then discovers its tools."""
    return await runtime.mcp.create(body)


@router.get("/{server_id}")
async def get_server(server_id: str, user: CurrentUser, runtime: RuntimeDep) -> McpServerOut:
    """One server."""
    return await runtime.mcp.get_server(server_id, user.id, admin=user.role == "admin")


@router.patch("/{server_id}")
async def update_server(
    server_id: str, body: McpServerUpdate, _: AdminUser, runtime: RuntimeDep
) -> McpServerOut:
    """Change a server (admins); its running connections restart."""
    return await runtime.mcp.update(server_id, body)


@router.delete("/{server_id}", status_code=204)
async def delete_server(server_id: str, _: AdminUser, runtime: RuntimeDep) -> Response:
    """Remove a server, its tools and every user's credentials for it (admins)."""
    await runtime.mcp.delete(server_id)
    return Response(status_code=204)


@router.post("/{server_id}/refresh")
async def refresh_server(server_id: str, admin: AdminUser, runtime: RuntimeDep) -> McpRefreshOut:
    """Connect and list the server's tools; those within the limits join the registry."""
    workspace = await asyncio.to_thread(Workspace.for_user, runtime.settings, admin.id)
    return await runtime.mcp.refresh(server_id, admin.id, workspace.root)


@router.put("/{server_id}/credentials")
async def set_credentials(
    server_id: str, body: McpCredentialsIn, user: CurrentUser, runtime: RuntimeDep
) -> McpCredentialsOut:
    """Store your own headers/env for this server (encrypted; never shown back)."""
    return await runtime.mcp.set_credentials(server_id, user.id, body, admin=user.role == "admin")


@router.delete("/{server_id}/credentials", status_code=204)
async def delete_credentials(server_id: str, user: CurrentUser, runtime: RuntimeDep) -> Response:
    """Forget your own credentials for this server."""
    await runtime.mcp.delete_credentials(server_id, user.id, admin=user.role == "admin")
    return Response(status_code=204)
