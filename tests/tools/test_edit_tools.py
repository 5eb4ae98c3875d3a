"""edit_file, apply_patch, delete/move/make_directory, grep and file_info on a real tree."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from orchestrator.core.errors import PathOutsideWorkspace, ToolArgumentError, ToolError
from orchestrator.tools.workspace import Workspace
from tests.tools.conftest import Secret, ToolCall

APP = """def greet(name):
    return "Hello, " + name


def add(a, b):
    return a + b


def main():
    print(greet("world"))
    print(add(2, 3))
"""
UTIL = """import math


def area(r):
    return math.pi * r * r
"""


@pytest.fixture
def project(workspace: Workspace) -> Path:
    root = workspace.root
    (root / "pkg").mkdir()
    (root / "pkg" / "app.py").write_text(APP)
    (root / "pkg" / "util.py").write_text(UTIL)
    return root


def _git_diff(root: Path, changes: dict[str, str]) -> str:
    """A real multi-file patch made by `git diff --no-index` between two trees."""
    before, after = root.parent / "before", root.parent / "after"
    for tree in (before, after):
        tree.mkdir(exist_ok=True)
    for name in ("pkg/app.py", "pkg/util.py"):
        for tree in (before, after):
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            (tree / name).write_text((root / name).read_text())
    for name, text in changes.items():
        (after / name).parent.mkdir(parents=True, exist_ok=True)
        (after / name).write_text(text)
    out = subprocess.run(
        ["git", "diff", "--no-index", "--no-prefix", "before", "after"],
        cwd=root.parent,
        capture_output=True,
        text=True,
    ).stdout
    return (
        out.replace("--- before/", "--- a/")
        .replace("+++ after/", "+++ b/")
        .replace(" before/", " a/")
        .replace(" after/", " b/")
    )


async def test_edit_file_replaces_one_unique_occurrence(call: ToolCall, project: Path) -> None:
    out = await call(
        "edit_file", path="pkg/app.py", old_text="return a + b", new_text="return a - b"
    )
    assert "line 6" in out
    assert "return a - b" in (project / "pkg" / "app.py").read_text()


async def test_edit_file_not_found_shows_the_nearest_lines(call: ToolCall, project: Path) -> None:
    with pytest.raises(ToolArgumentError) as caught:
        await call("edit_file", path="pkg/app.py", old_text="return a+b", new_text="x")
    assert "not found" in caught.value.message and "6:     return a + b" in caught.value.message
    assert (project / "pkg" / "app.py").read_text() == APP


async def test_edit_file_ambiguous_match_is_refused(call: ToolCall, project: Path) -> None:
    with pytest.raises(ToolArgumentError, match="occurs 2 times"):
        await call("edit_file", path="pkg/app.py", old_text="    print(", new_text="x")
    assert (project / "pkg" / "app.py").read_text() == APP


async def test_apply_patch_applies_a_real_multi_file_patch(call: ToolCall, project: Path) -> None:
    new_app = APP.replace('"Hello, " + name', 'f"Hello, {name}!"').replace(
        "print(add(2, 3))", "print(add(2, 3))\n    print(area(1))"
    )
    new_util = UTIL.replace("math.pi * r * r", "math.pi * r**2")
    patch = _git_diff(
        project, {"pkg/app.py": new_app, "pkg/util.py": new_util, "pkg/new.py": "X = 1\n"}
    )
    out = await call("apply_patch", patch=patch)
    assert "patched pkg/app.py" in out and "patched pkg/util.py" in out
    assert (project / "pkg" / "app.py").read_text() == new_app
    assert (project / "pkg" / "util.py").read_text() == new_util
    assert (project / "pkg" / "new.py").read_text() == "X = 1\n"


async def test_apply_patch_tolerates_wrong_line_numbers(call: ToolCall, project: Path) -> None:
    patch = (
        "--- a/pkg/util.py\n+++ b/pkg/util.py\n@@ -40,2 +40,2 @@\n def area(r):\n"
        "-    return math.pi * r * r\n+    return 3.14 * r * r\n"
    )
    await call("apply_patch", patch=patch)
    assert "3.14" in (project / "pkg" / "util.py").read_text()


async def test_apply_patch_that_does_not_apply_changes_nothing(
    call: ToolCall, project: Path
) -> None:
    good = _git_diff(project, {"pkg/util.py": UTIL.replace("r * r", "r ** 2")})
    bad = (
        "--- a/pkg/app.py\n+++ b/pkg/app.py\n@@ -1,2 +1,2 @@\n-def greet(person):\n"
        "+def greet(who):\n     return 'hi'\n"
    )
    with pytest.raises(ToolArgumentError) as caught:
        await call("apply_patch", patch=good + bad)
    assert "hunk 1 of 'pkg/app.py' does not apply" in caught.value.message
    assert "Nothing was changed" in caught.value.message
    assert (project / "pkg" / "util.py").read_text() == UTIL  # the good half was not kept
    assert (project / "pkg" / "app.py").read_text() == APP


async def test_apply_patch_rejects_garbage_and_escapes(
    call: ToolCall, project: Path, secret: Secret
) -> None:
    with pytest.raises(ToolArgumentError, match="unified diff"):
        await call("apply_patch", patch="please change the greeting")
    escape = (
        "--- a/../outside/secret.txt\n+++ b/../outside/secret.txt\n@@ -1 +1 @@\n"
        f"-{secret.text}\n+pwned\n"
    )
    with pytest.raises(PathOutsideWorkspace):
        await call("apply_patch", patch=escape)
    assert secret.path.read_text() == secret.text


async def test_delete_move_and_make_directory(call: ToolCall, project: Path) -> None:
    await call("make_directory", path="docs/api")
    assert (project / "docs" / "api").is_dir()
    await call("move_path", source="pkg/util.py", destination="docs/api/util.py")
    assert (project / "docs" / "api" / "util.py").read_text() == UTIL
    with pytest.raises(ToolArgumentError, match="already exists"):
        await call("move_path", source="pkg/app.py", destination="docs/api/util.py")
    with pytest.raises(ToolArgumentError, match="recursive"):
        await call("delete_path", path="docs")
    await call("delete_path", path="docs", recursive=True)
    assert not (project / "docs").exists()
    with pytest.raises(ToolArgumentError, match="does not exist"):
        await call("delete_path", path="docs")


async def test_delete_and_move_never_touch_outside(
    call: ToolCall, workspace: Workspace, secret: Secret
) -> None:
    os.symlink(secret.path.parent, workspace.root / "door")
    with pytest.raises(ToolError):
        await call("delete_path", path="door/secret.txt")
    with pytest.raises(PathOutsideWorkspace):
        await call("move_path", source="../outside/secret.txt", destination="mine.txt")
    with pytest.raises(ToolError):
        await call("move_path", source="door/secret.txt", destination="mine.txt")
    await call("delete_path", path="door", recursive=True)  # removes the link only
    assert secret.path.read_text() == secret.text
    with pytest.raises(PathOutsideWorkspace):
        await call("delete_path", path=".", recursive=True)


async def test_grep_finds_lines_with_paths_and_numbers(call: ToolCall, project: Path) -> None:
    out = await call("grep", pattern=r"def \w+\(", glob="*.py")
    assert "pkg/app.py:1: def greet(name):" in out and "pkg/util.py:4: def area(r):" in out
    assert "no match" in await call("grep", pattern="nothing-like-this")
    with pytest.raises(ToolArgumentError, match="regular expression"):
        await call("grep", pattern="(unclosed")


async def test_file_info_gives_size_hash_and_type(call: ToolCall, project: Path) -> None:
    out = await call("file_info", path="pkg/app.py")
    assert hashlib.sha256(APP.encode()).hexdigest() in out
    assert "text/x-python" in out and f'"size": {len(APP)}' in out
