"""Editing tools: replace text in place, apply a unified diff, delete, move, make folders."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import Field

from orchestrator.core.errors import ToolArgumentError
from orchestrator.tools.base import Risk, ToolContext, tool
from orchestrator.tools.builtin._patching import apply_hunks, parse_patch
from orchestrator.tools.builtin.files import RelativePath
from orchestrator.tools.workspace import MAX_WRITE_BYTES, Workspace, ops

MAX_PATCH_CHARS = 200_000


def _paths_of_patch(arguments: dict[str, Any]) -> list[str]:
    try:
        files = parse_patch(arguments["patch"])
    except ToolArgumentError:
        return []
    return [p for f in files for p in (f.source, f.target) if p]


def _nearest_lines(text: str, needle: str) -> str:
    """The lines of `text` most like the first line of `needle`, numbered, for the model."""
    import difflib

    lines = text.splitlines()
    first = next((line for line in needle.splitlines() if line.strip()), needle).strip()
    scored = sorted(
        range(len(lines)),
        key=lambda i: -difflib.SequenceMatcher(None, lines[i].strip(), first).ratio(),
    )[:1]
    if not scored:
        return "(the file is empty)"
    at = scored[0]
    window = range(max(at - 2, 0), min(at + 3, len(lines)))
    return "\n".join(f"{i + 1}: {lines[i]}" for i in window)


def _edit(ws: Workspace, path: str, old_text: str, new_text: str) -> str:
    data, size = ops.read_bytes(ws, path, MAX_WRITE_BYTES)
    if size > MAX_WRITE_BYTES:
        raise ToolArgumentError(f"{path!r} is {size} bytes; edit_file handles files up to 1 MiB")
    if b"\x00" in data[:8192]:
        raise ToolArgumentError(f"{path!r} is a binary file; edit_file edits text files")
    text = data.decode("utf-8", errors="replace")
    count = text.count(old_text)
    if count == 0:
        raise ToolArgumentError(
            f"old_text was not found in {path!r} (it must match exactly, spaces and line "
            f"breaks included). The nearest lines are:\n{_nearest_lines(text, old_text)}"
        )
    if count > 1:
        raise ToolArgumentError(
            f"old_text occurs {count} times in {path!r}; include more surrounding lines so "
            "that it matches exactly one place"
        )
    ws.write_text(path, text.replace(old_text, new_text, 1))
    line = text[: text.index(old_text)].count("\n") + 1
    return f"replaced 1 occurrence in {path} at line {line}"


@tool(category="files", risk=Risk.WRITE, touches=lambda a: [a["path"]])
async def edit_file(
    ctx: ToolContext,
    path: RelativePath,
    old_text: Annotated[
        str,
        Field(
            min_length=1,
            max_length=100_000,
            description="The exact text to replace; it must occur exactly once in the file",
        ),
    ],
    new_text: Annotated[
        str, Field(max_length=MAX_WRITE_BYTES, description="The text to put in its place")
    ],
) -> str:
    """Replace one exact, unique occurrence of old_text with new_text in a workspace file."""
    return await asyncio.to_thread(_edit, Workspace.for_tool(ctx), path, old_text, new_text)


def _apply(ws: Workspace, text: str) -> str:
    files = parse_patch(text)
    # Work out every new content first; write only when all of it applies.
    planned: list[tuple[str, str | None]] = []  # (path, new text or None to delete)
    for patched in files:
        if patched.source is None:
            assert patched.target is not None
            if ops.exists(ws, patched.target):
                raise ToolArgumentError(
                    f"the patch creates {patched.target!r}, which already exists; nothing "
                    "was changed"
                )
            new = "".join("".join(n) for _, _, n in patched.hunks)
            planned.append((patched.target, new))
            continue
        data, size = ops.read_bytes(ws, patched.source, MAX_WRITE_BYTES)
        if size > MAX_WRITE_BYTES:
            raise ToolArgumentError(f"{patched.source!r} is too large to patch (over 1 MiB)")
        old = data.decode("utf-8", errors="replace")
        new = apply_hunks(patched.source, old, patched.hunks)
        if patched.target is None:
            planned.append((patched.source, None))
        else:
            planned.append((patched.target, new))
            if patched.target != patched.source:
                planned.append((patched.source, None))
    done: list[str] = []
    for path, content in planned:
        if content is None:
            ops.delete(ws, path)
            done.append(f"deleted {path}")
        else:
            ws.write_text(path, content)
            done.append(f"patched {path}")
    return "; ".join(done)


@tool(category="files", risk=Risk.WRITE, touches=_paths_of_patch)
async def apply_patch(
    ctx: ToolContext,
    patch: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_PATCH_CHARS,
            description="A unified diff ('--- a/f', '+++ b/f', '@@ ... @@' hunks) over "
            "workspace files",
        ),
    ],
) -> str:
    """Apply a unified diff to workspace files; all of it applies or nothing changes."""
    return await asyncio.to_thread(_apply, Workspace.for_tool(ctx), patch)


@tool(category="files", risk=Risk.WRITE, touches=lambda a: [a["path"]])
async def delete_path(
    ctx: ToolContext,
    path: RelativePath,
    recursive: Annotated[
        bool, Field(description="Also delete a non-empty directory with everything in it")
    ] = False,
) -> str:
    """Delete a file or directory of the workspace (recursive for a non-empty directory)."""
    what = await asyncio.to_thread(ops.delete, Workspace.for_tool(ctx), path, recursive=recursive)
    return f"deleted {what} {path}"


@tool(category="files", risk=Risk.WRITE, touches=lambda a: [a["source"], a["destination"]])
async def move_path(
    ctx: ToolContext,
    source: RelativePath,
    destination: Annotated[
        str,
        Field(min_length=1, max_length=4096, description="New path; it must not exist yet"),
    ],
) -> str:
    """Move or rename a file or directory inside the workspace."""
    await asyncio.to_thread(ops.move, Workspace.for_tool(ctx), source, destination)
    return f"moved {source} to {destination}"


@tool(category="files", risk=Risk.WRITE, touches=lambda a: [a["path"]])
async def make_directory(ctx: ToolContext, path: RelativePath) -> str:
    """Create a directory in the workspace, with any missing parents."""
    created = await asyncio.to_thread(ops.make_directory, Workspace.for_tool(ctx), path)
    return f"created directory {path}" if created else f"{path} already exists"


EDIT_TOOLS = (edit_file, apply_patch, delete_path, move_path, make_directory)
