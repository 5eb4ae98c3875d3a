"""Attacks on the file tools: every way out of the workspace must be refused.

Each test plants a secret outside the workspace and checks both that the tool refuses
and that the secret's text appears in no output, and that nothing is written outside.
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from orchestrator.core.config import Settings
from orchestrator.core.errors import PathOutsideWorkspace, ToolArgumentError, ToolError
from orchestrator.tools.workspace import Workspace
from tests.tools.conftest import Secret, ToolCall

TRAVERSALS = [
    "../outside/secret.txt",
    "../../outside/secret.txt",
    "./../outside/secret.txt",
    "sub/../../outside/secret.txt",
    "sub/../../../../../../../../etc/passwd",
    "..",
    "../",
    "../2/notes.txt",
]


async def _refused(call: ToolCall, name: str, secret: Secret, **arguments: object) -> ToolError:
    """Call a tool that must fail; its message must not leak the secret."""
    with pytest.raises(ToolError) as caught:
        output = await call(name, **arguments)
        assert secret.text not in output
    assert secret.text not in caught.value.message
    return caught.value


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_read_file_refuses_dot_dot_escape(call: ToolCall, secret: Secret, path: str) -> None:
    error = await _refused(call, "read_file", secret, path=path)
    assert isinstance(error, PathOutsideWorkspace)


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_write_file_refuses_dot_dot_escape(
    call: ToolCall, secret: Secret, path: str, tmp_path: Path
) -> None:
    before = sorted(p.name for p in tmp_path.rglob("*"))
    await _refused(call, "write_file", secret, path=path, content="pwned")
    assert secret.path.read_text() == secret.text
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_list_and_search_refuse_dot_dot_escape(
    call: ToolCall, secret: Secret, path: str
) -> None:
    await _refused(call, "list_directory", secret, path=path)
    await _refused(call, "search_files", secret, pattern="secret", path=path)


@pytest.mark.parametrize("tool", ["read_file", "list_directory"])
async def test_file_tools_refuse_absolute_paths(call: ToolCall, secret: Secret, tool: str) -> None:
    for path in (str(secret.path), str(secret.path.parent), "/etc/passwd", "/"):
        error = await _refused(call, tool, secret, path=path)
        assert isinstance(error, PathOutsideWorkspace)
        assert "relative to your workspace" in error.message


async def test_write_file_refuses_absolute_path(call: ToolCall, secret: Secret) -> None:
    await _refused(call, "write_file", secret, path=str(secret.path), content="pwned")
    await _refused(call, "write_file", secret, path="/tmp/escaped.txt", content="pwned")
    assert secret.path.read_text() == secret.text
    assert not Path("/tmp/escaped.txt").exists()


async def test_file_tools_refuse_nul_bytes(call: ToolCall, secret: Secret) -> None:
    for tool, extra in (("read_file", {}), ("write_file", {"content": "x"})):
        error = await _refused(call, tool, secret, path="notes\x00../outside/secret.txt", **extra)
        assert isinstance(error, ToolArgumentError)


async def test_file_tools_refuse_symlink_to_secret(
    call: ToolCall, workspace: Workspace, secret: Secret
) -> None:
    (workspace.root / "link.txt").symlink_to(secret.path)
    (workspace.root / "rel.txt").symlink_to(os.path.relpath(secret.path, workspace.root))
    for name in ("link.txt", "rel.txt"):
        error = await _refused(call, "read_file", secret, path=name)
        assert isinstance(error, PathOutsideWorkspace)
        await _refused(call, "write_file", secret, path=name, content="pwned")
    assert secret.path.read_text() == secret.text
    assert (workspace.root / "link.txt").is_symlink()  # not replaced either


async def test_file_tools_refuse_symlinked_directory(
    call: ToolCall, workspace: Workspace, secret: Secret
) -> None:
    (workspace.root / "door").symlink_to(secret.path.parent, target_is_directory=True)
    await _refused(call, "read_file", secret, path="door/secret.txt")
    await _refused(call, "list_directory", secret, path="door")
    await _refused(call, "search_files", secret, pattern="*", path="door")
    await _refused(call, "write_file", secret, path="door/planted.txt", content="pwned")
    await _refused(call, "write_file", secret, path="door/deeper/planted.txt", content="pwned")
    assert sorted(p.name for p in secret.path.parent.iterdir()) == ["secret.txt"]


async def test_search_files_does_not_follow_links(
    call: ToolCall, workspace: Workspace, secret: Secret
) -> None:
    (workspace.root / "door").symlink_to(secret.path.parent, target_is_directory=True)
    (workspace.root / "link.txt").symlink_to(secret.path)
    for arguments in ({"pattern": "secret"}, {"pattern": "*", "content": "TOP-SECRET"}):
        output = await call("search_files", **arguments)
        assert secret.text not in output
        assert "door/" not in output and "link.txt" not in output


async def test_list_directory_shows_links_without_following(
    call: ToolCall, workspace: Workspace, secret: Secret
) -> None:
    (workspace.root / "link.txt").symlink_to(secret.path)
    output = await call("list_directory", path=".")
    assert '"name":"link.txt","type":"symlink"' in output.replace(" ", "")
    assert secret.text not in output


async def test_file_tools_refuse_hardlinked_secret(
    call: ToolCall, workspace: Workspace, secret: Secret
) -> None:
    os.link(secret.path, workspace.root / "hard.txt")
    error = await _refused(call, "read_file", secret, path="hard.txt")
    assert "hard links" in error.message
    await _refused(call, "write_file", secret, path="hard.txt", content="pwned")
    assert secret.path.read_text() == secret.text
    output = await call("search_files", pattern="*", content="TOP-SECRET")
    assert secret.text not in output and "hard.txt" not in output


@pytest.mark.timeout(10)
async def test_read_file_refuses_fifo_without_hanging(
    call: ToolCall, workspace: Workspace, secret: Secret
) -> None:
    os.mkfifo(workspace.root / "pipe")
    error = await _refused(call, "read_file", secret, path="pipe")
    assert "not a regular file" in error.message
    await _refused(call, "write_file", secret, path="pipe", content="x")
    output = await call("search_files", pattern="*", content="anything")
    assert "pipe" not in output


async def test_read_file_refuses_socket_and_device(
    call: ToolCall, workspace: Workspace, secret: Secret
) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(workspace.root / "sock"))
        error = await _refused(call, "read_file", secret, path="sock")
        assert "not a regular file" in error.message
    try:
        os.mknod(workspace.root / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        return  # only root may make device files; then nobody can plant one either
    error = await _refused(call, "read_file", secret, path="null")
    assert "not a regular file" in error.message


async def test_file_tools_cannot_reach_another_users_workspace(
    call: ToolCall, settings: Settings, workspace: Workspace, secret: Secret
) -> None:
    other = Workspace.for_user(settings, 2)
    (other.root / "notes.txt").write_text(secret.text)
    (workspace.root / "theirs").symlink_to(other.root, target_is_directory=True)
    for path in ("../2/notes.txt", str(other.root / "notes.txt"), "theirs/notes.txt"):
        await _refused(call, "read_file", secret, path=path)
    await _refused(call, "list_directory", secret, path="../2")
    await _refused(call, "write_file", secret, path="../2/notes.txt", content="pwned")
    assert (other.root / "notes.txt").read_text() == secret.text


def test_workspace_refuses_a_symlinked_root(settings: Settings, secret: Secret) -> None:
    settings.workspaces_dir.mkdir(parents=True, exist_ok=True)
    (settings.workspaces_dir / "7").symlink_to(secret.path.parent, target_is_directory=True)
    with pytest.raises(ToolError, match="not a directory"):
        Workspace.for_user(settings, 7)


def test_workspace_is_created_private(workspace: Workspace) -> None:
    assert stat.S_IMODE(workspace.root.stat().st_mode) == 0o700


@pytest.mark.parametrize("use_openat2", [True, False], ids=["openat2", "walk"])
def test_both_resolvers_refuse_every_escape(
    workspace: Workspace, secret: Secret, use_openat2: bool
) -> None:
    ws = Workspace(workspace.root, use_openat2=use_openat2)
    (workspace.root / "sub").mkdir()
    (workspace.root / "sub" / "link").symlink_to(secret.path)
    (workspace.root / "door").symlink_to(secret.path.parent, target_is_directory=True)
    os.link(secret.path, workspace.root / "hard")
    for path in [*TRAVERSALS, "sub/link", "door/secret.txt", "hard", str(secret.path)]:
        with pytest.raises(ToolError) as caught:
            ws.read_text(path)
        assert secret.text not in caught.value.message
        with pytest.raises(ToolError):
            ws.write_text(path, "pwned")
    for path in ("door", "door/x", "sub/link/x"):
        with pytest.raises(ToolError):
            ws.list_directory(path)
        with pytest.raises(ToolError):
            ws.write_text(f"{path}/new.txt", "pwned")
    assert secret.path.read_text() == secret.text
    assert sorted(p.name for p in secret.path.parent.iterdir()) == ["secret.txt"]


@pytest.mark.parametrize("use_openat2", [True, False], ids=["openat2", "walk"])
def test_both_resolvers_serve_honest_paths(workspace: Workspace, use_openat2: bool) -> None:
    ws = Workspace(workspace.root, use_openat2=use_openat2)
    assert ws.write_text("a/b/c.txt", "deep") == 4
    assert ws.read_text("a/b/c.txt").text == "deep"
    assert ws.read_text("./a//b/./c.txt").text == "deep"
    assert [e.name for e in ws.list_directory("a").entries] == ["b"]
