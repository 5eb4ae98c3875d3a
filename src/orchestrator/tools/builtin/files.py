"""File tools: read, write, list and search inside the caller's workspace only."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from orchestrator.tools.base import Risk, ToolContext, tool
from orchestrator.tools.workspace import (
    MAX_PATH_LENGTH,
    MAX_WRITE_BYTES,
    Workspace,
    ops,
    split_relative,
)

UPLOADS_FOLDER = "uploads"  # where the web app puts users' files (attachments)

RelativePath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_PATH_LENGTH,
        description="Path relative to the workspace, e.g. 'notes/todo.txt'",
    ),
]
DirectoryPath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_PATH_LENGTH,
        description="Directory relative to the workspace; '.' is the workspace itself",
    ),
]


def _in_uploads(arguments: Mapping[str, Any]) -> bool:
    """Whether a path lies beneath uploads/, where users' files arrive (untrusted)."""
    return split_relative(str(arguments["path"]))[:1] == [UPLOADS_FOLDER]


@tool(category="files", risk=Risk.READ, untrusted_when=_in_uploads)
async def read_file(ctx: ToolContext, path: RelativePath) -> str:
    """Read a text file from the workspace (the first 1 MiB of it)."""
    found = await asyncio.to_thread(Workspace.for_tool(ctx).read_text, path)
    if found.binary:
        return f"[{found.path} is a binary file of {found.size} bytes; not shown]"
    if found.truncated:
        shown = len(found.text.encode("utf-8", errors="replace"))
        return f"{found.text}\n[truncated: showing about {shown} of {found.size} bytes]"
    return found.text


@tool(category="files", risk=Risk.WRITE, touches=lambda a: [a["path"]])
async def write_file(
    ctx: ToolContext,
    path: RelativePath,
    content: Annotated[
        str,
        Field(max_length=MAX_WRITE_BYTES, description="The whole new content of the file"),
    ],
) -> str:
    """Create or replace a text file in the workspace; missing directories are created."""
    size = await asyncio.to_thread(Workspace.for_tool(ctx).write_text, path, content)
    return f"wrote {size} bytes to {path}"


@tool(category="files", risk=Risk.READ)
async def list_directory(ctx: ToolContext, path: DirectoryPath = ".") -> dict[str, Any]:
    """List the files and directories of a workspace directory."""
    listing = await asyncio.to_thread(Workspace.for_tool(ctx).list_directory, path)
    return listing.model_dump(mode="json")


@tool(category="files", risk=Risk.READ)
async def search_files(
    ctx: ToolContext,
    pattern: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description="A glob on file names such as '*.py', or a plain word names contain",
        ),
    ],
    path: DirectoryPath = ".",
    content: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=200,
            description="Only files containing this text (case-insensitive)",
        ),
    ] = None,
) -> dict[str, Any]:
    """Find files in the workspace by name, and optionally by content."""
    workspace = Workspace.for_tool(ctx)
    result = await asyncio.to_thread(workspace.search, pattern, path, content)
    return result.model_dump(mode="json", exclude_none=True)


@tool(category="files", risk=Risk.READ)
async def grep(
    ctx: ToolContext,
    pattern: Annotated[
        str,
        Field(min_length=1, max_length=500, description="A regular expression, e.g. 'def \\w+'"),
    ],
    path: DirectoryPath = ".",
    glob: Annotated[
        str | None,
        Field(min_length=1, max_length=200, description="Only files whose name matches, '*.py'"),
    ] = None,
    ignore_case: Annotated[bool, Field(description="Match regardless of case")] = False,
    max_results: Annotated[int, Field(ge=1, le=1000, description="At most this many lines")] = 100,
) -> str:
    """Search the workspace's text files for lines matching a regex; answers path:line: text."""
    found = await asyncio.to_thread(
        ops.grep,
        Workspace.for_tool(ctx),
        pattern,
        path,
        glob,
        ignore_case=ignore_case,
        max_results=max_results,
    )
    if not found.matches:
        return f"no match in {found.files_searched} files"
    more = "\n[stopped at a limit; narrow the search]" if found.truncated else ""
    return "\n".join(found.matches) + more


@tool(category="files", risk=Risk.READ)
async def file_info(ctx: ToolContext, path: RelativePath) -> dict[str, Any]:
    """Size, modification time, sha256 and media type of a workspace file or directory."""
    info = await asyncio.to_thread(ops.file_info, Workspace.for_tool(ctx), path)
    return info.model_dump(mode="json", exclude_none=True)
