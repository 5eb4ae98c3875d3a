"""Honest use of the file tools: what a user's agent does all day."""

from __future__ import annotations

import json
import stat

import pytest

from orchestrator.core.errors import ToolArgumentError
from orchestrator.tools.workspace import MAX_READ_BYTES, Workspace
from tests.tools.conftest import ToolCall


async def test_write_then_read_file_round_trips_text(call: ToolCall) -> None:
    assert await call("write_file", path="notes/todo.txt", content="buy milk\nnaïve ☕\n") == (
        "wrote 20 bytes to notes/todo.txt"
    )
    assert await call("read_file", path="notes/todo.txt") == "buy milk\nnaïve ☕\n"


async def test_write_file_replaces_atomically_and_leaves_no_temp_files(
    call: ToolCall, workspace: Workspace
) -> None:
    await call("write_file", path="a.txt", content="one")
    await call("write_file", path="a.txt", content="two")
    assert (workspace.root / "a.txt").read_text() == "two"
    assert [p.name for p in workspace.root.iterdir()] == ["a.txt"]


async def test_write_file_refuses_content_over_the_cap(call: ToolCall) -> None:
    with pytest.raises(ToolArgumentError, match="limited to"):
        await call("write_file", path="big.txt", content="é" * 600_000)  # 1.2 MB of UTF-8


async def test_write_file_refuses_to_replace_a_directory(
    call: ToolCall, workspace: Workspace
) -> None:
    (workspace.root / "dir").mkdir()
    with pytest.raises(ToolArgumentError, match="is a directory"):
        await call("write_file", path="dir", content="x")


async def test_read_file_truncates_large_files_and_says_so(
    call: ToolCall, workspace: Workspace
) -> None:
    (workspace.root / "big.log").write_bytes(b"x" * (MAX_READ_BYTES + 10))
    output = await call("read_file", path="big.log")
    assert output.startswith("x" * 1000)
    assert f"[truncated: showing about {MAX_READ_BYTES} of {MAX_READ_BYTES + 10} bytes]" in output


async def test_read_file_describes_binary_files_instead_of_dumping_them(
    call: ToolCall, workspace: Workspace
) -> None:
    (workspace.root / "blob.bin").write_bytes(b"\x00\x01\x02" * 10)
    assert await call("read_file", path="blob.bin") == (
        "[blob.bin is a binary file of 30 bytes; not shown]"
    )


async def test_read_file_says_when_a_file_is_missing(call: ToolCall) -> None:
    with pytest.raises(ToolArgumentError, match=r"'nope\.txt' does not exist"):
        await call("read_file", path="nope.txt")


async def test_list_directory_lists_entries_with_types_and_sizes(
    call: ToolCall, workspace: Workspace
) -> None:
    await call("write_file", path="src/main.py", content="print('hi')\n")
    await call("write_file", path="README.md", content="# hi\n")
    listing = json.loads(await call("list_directory"))
    assert listing == {
        "path": ".",
        "entries": [
            {"name": "README.md", "type": "file", "size": 5},
            {"name": "src", "type": "dir", "size": None},
        ],
        "truncated": False,
    }
    inner = json.loads(await call("list_directory", path="src"))
    assert inner["entries"] == [{"name": "main.py", "type": "file", "size": 12}]


async def test_search_files_matches_globs_words_and_content(call: ToolCall) -> None:
    await call("write_file", path="src/app.py", content="import os\nTODO: fix\n")
    await call("write_file", path="src/util.py", content="pass\n")
    await call("write_file", path="docs/todo-list.md", content="- nothing\n")
    by_glob = json.loads(await call("search_files", pattern="*.py"))
    assert [m["path"] for m in by_glob["matches"]] == ["src/app.py", "src/util.py"]
    by_word = json.loads(await call("search_files", pattern="TODO"))
    assert [m["path"] for m in by_word["matches"]] == ["docs/todo-list.md"]
    by_content = json.loads(await call("search_files", pattern="*", content="todo: FIX"))
    assert by_content["matches"] == [
        {"path": "src/app.py", "type": "file", "line": 2, "text": "TODO: fix"}
    ]
    in_dir = json.loads(await call("search_files", pattern="*.md", path="docs"))
    assert [m["path"] for m in in_dir["matches"]] == ["docs/todo-list.md"]


async def test_new_directories_are_created_inside_the_workspace_only(
    call: ToolCall, workspace: Workspace
) -> None:
    await call("write_file", path="x/y/z.txt", content="deep")
    assert stat.S_ISDIR((workspace.root / "x" / "y").lstat().st_mode)
    assert (workspace.root / "x" / "y" / "z.txt").read_text() == "deep"


async def test_bad_arguments_are_explained_to_the_model(call: ToolCall) -> None:
    with pytest.raises(ToolArgumentError, match="path"):
        await call("read_file")
    with pytest.raises(ToolArgumentError, match="at most 4096 characters"):
        await call("read_file", path="a" * 5000)
