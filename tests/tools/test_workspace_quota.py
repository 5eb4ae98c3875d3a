"""WORKSPACE_QUOTA_MB for agents' writes: the file tools count against the same quota as
uploads, and the usage count cannot be fooled by links."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from orchestrator.core.config import Settings
from orchestrator.core.errors import WorkspaceQuotaExceeded
from orchestrator.tools.base import ToolContext
from orchestrator.tools.registry import ToolRegistry
from orchestrator.tools.workspace import Workspace
from tests.tools.conftest import Secret

KB = 1024


@pytest.fixture
def small(settings: Settings) -> Settings:
    return settings.model_copy(update={"workspace_quota_mb": 1})


async def _write(registry: ToolRegistry, settings: Settings, path: str, size: int) -> str:
    workspace = Workspace.for_user(settings, 1)
    ctx = ToolContext(user_id=1, workspace=workspace.root, settings=settings)
    return await registry.get("write_file")(ctx, {"path": path, "content": "x" * size})


async def test_write_file_over_the_quota_fails_with_the_limit_named(
    registry: ToolRegistry, small: Settings
) -> None:
    assert await _write(registry, small, "a.txt", 600 * KB) == f"wrote {600 * KB} bytes to a.txt"
    with pytest.raises(WorkspaceQuotaExceeded, match=r"WORKSPACE_QUOTA_MB = 1 MB") as caught:
        await _write(registry, small, "b.txt", 600 * KB)
    assert caught.value.status_code == 413
    assert not (small.workspaces_dir / "1" / "b.txt").exists()
    # Replacing a file counts only the difference.
    await _write(registry, small, "a.txt", 1000 * KB)


async def test_files_written_by_commands_count_too(registry: ToolRegistry, small: Settings) -> None:
    root = Workspace.for_user(small, 1).root
    (root / "build").mkdir()
    (root / "build" / "out.bin").write_bytes(b"\0" * (900 * KB))  # as a command would
    with pytest.raises(WorkspaceQuotaExceeded):
        await _write(registry, small, "notes.txt", 200 * KB)


def test_usage_counts_hard_links_once_and_never_follows_symlinks(
    settings: Settings, secret: Secret, tmp_path: Path
) -> None:
    workspace = Workspace.for_user(settings, 1)
    (workspace.root / "a.bin").write_bytes(b"a" * 1000)
    os.link(workspace.root / "a.bin", workspace.root / "b.bin")
    big = tmp_path / "outside-big.bin"
    big.write_bytes(b"b" * 100_000)
    (workspace.root / "big-link").symlink_to(big)
    (workspace.root / "door").symlink_to(tmp_path, target_is_directory=True)
    (workspace.root / "sub" / "deeper").mkdir(parents=True)
    (workspace.root / "sub" / "deeper" / "c.bin").write_bytes(b"c" * 24)
    assert workspace.usage() == 1024


def test_ensure_room_without_a_quota_never_refuses(settings: Settings) -> None:
    workspace = Workspace(Workspace.for_user(settings, 1).root)
    workspace.ensure_room(10**15)
    limited = Workspace.for_user(settings.model_copy(update={"workspace_quota_mb": 1}), 1)
    with pytest.raises(WorkspaceQuotaExceeded):
        limited.ensure_room(2 * 1024 * 1024)


async def _archive(registry: ToolRegistry, settings: Settings, **params: object) -> object:
    workspace = Workspace.for_user(settings, 1)
    ctx = ToolContext(user_id=1, workspace=workspace.root, settings=settings)
    return await registry.get("archive")(ctx, params)


async def test_an_archive_cannot_unpack_or_pack_past_the_quota(
    registry: ToolRegistry, settings: Settings
) -> None:
    """The archive tool writes beside the shared count: what it unpacks or packs is held
    against the quota as it is written, and a refusal keeps nothing."""
    quota = settings.model_copy(update={"workspace_quota_mb": 5})
    root = Workspace.for_user(quota, 1).root
    noise = os.urandom(3 * 1024 * KB)  # incompressible: the archive is as big as its content
    with zipfile.ZipFile(root / "data.zip", "w") as archive:
        archive.writestr("data.bin", noise)
    workspace = Workspace.for_user(quota, 1)
    before = workspace.counted_usage()

    with pytest.raises(WorkspaceQuotaExceeded, match=r"WORKSPACE_QUOTA_MB = 5 MB"):
        await _archive(registry, quota, action="extract", archive="data.zip", destination="out")
    assert not (root / "out" / "data.bin").exists()
    (root / "data.bin").write_bytes(noise)
    (root / "data.zip").unlink()
    with pytest.raises(WorkspaceQuotaExceeded):
        await _archive(registry, quota, action="create", archive="again.zip", paths=["data.bin"])
    assert not (root / "again.zip").exists()
    assert workspace.counted_usage() == workspace.usage() <= before

    # Within the quota both work, and the count follows the disk.
    roomy = settings.model_copy(update={"workspace_quota_mb": 20})
    await _archive(registry, roomy, action="create", archive="again.zip", paths=["data.bin"])
    await _archive(registry, roomy, action="extract", archive="again.zip", destination="out")
    assert (root / "out" / "data.bin").read_bytes() == noise
    workspace = Workspace.for_user(roomy, 1)
    assert workspace.counted_usage() == workspace.usage()
