"""The archive tool: list, extract and create zip and tar(.gz) files in the workspace."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from pydantic import Field

from orchestrator.core.errors import ToolArgumentError
from orchestrator.tools.base import Risk, ToolContext, tool
from orchestrator.tools.builtin import _archives
from orchestrator.tools.workspace import MAX_PATH_LENGTH, Workspace

WorkspacePath = Annotated[str, Field(min_length=1, max_length=MAX_PATH_LENGTH)]


def _touched(arguments: dict[str, Any]) -> list[str]:
    if arguments["action"] == "extract":
        return [arguments.get("destination") or "."]
    if arguments["action"] == "create":
        return [arguments["archive"]]
    return []


@tool(category="files", risk=Risk.WRITE, touches=_touched)
async def archive(
    ctx: ToolContext,
    action: Annotated[
        Literal["list", "extract", "create"], Field(description="What to do with the archive")
    ],
    archive: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_PATH_LENGTH,
            description="The archive's workspace path, ending in .zip, .tar, .tar.gz or .tgz",
        ),
    ],
    paths: Annotated[
        list[WorkspacePath] | None,
        Field(max_length=100, description="create: the files and folders to pack"),
    ] = None,
    destination: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=MAX_PATH_LENGTH,
            description="extract: the folder to unpack into (default: the workspace itself)",
        ),
    ] = None,
) -> dict[str, Any]:
    """List, extract or create a zip or tar(.gz) archive in the workspace."""
    ws = Workspace.for_tool(ctx)
    if action == "list":
        entries = await asyncio.to_thread(_archives.list_archive, ws, archive)
        return {"archive": archive, "entries": entries}
    if action == "extract":
        try:
            names = await asyncio.to_thread(_archives.extract, ws, archive, destination or ".")
        finally:
            await asyncio.to_thread(ws.usage_changed)  # written beside the quota's count
        return {"archive": archive, "extracted": len(names), "files": names[:200]}
    if not paths:
        raise ToolArgumentError("give 'paths': the files and folders to pack")
    try:
        count = await asyncio.to_thread(_archives.create, ws, archive, paths)
    finally:
        await asyncio.to_thread(ws.usage_changed)
    return {"archive": archive, "files": count}


ARCHIVE_TOOLS = (archive,)
