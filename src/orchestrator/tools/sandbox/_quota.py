"""WORKSPACE_QUOTA_MB against commands: how much room a command starts with, and the
trim that takes back what a command wrote over the quota.

Usage is counted by `tools.workspace.usage_bytes`, the one count uploads and the file
tools use too.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from orchestrator.core.config import Settings
from orchestrator.tools.workspace import usage_bytes

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def workspace_usage(root: Path) -> int:
    """Bytes held by the workspace's regular files (links not followed)."""
    try:
        fd = os.open(root, _DIR_FLAGS)
    except OSError:
        return 0
    try:
        return usage_bytes(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class CommandQuota:
    """The workspace quota, as commands meet it."""

    limit_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> CommandQuota:
        """WORKSPACE_QUOTA_MB."""
        return cls(settings.workspace_quota_bytes)

    def remaining(self, root: Path) -> int:
        """Bytes that may still be added (0 when full or over)."""
        return max(self.limit_bytes - workspace_usage(root), 0)

    def trim(self, root: Path, since: float) -> list[str] | None:
        """Bring a workspace that reached its quota back within it by cutting what was
        written at or after `since` (newest first); None if it is under its quota.

        Returns what was cut, as `path (N bytes removed)`. Files are reached through
        directory fds, never through links, so nothing outside the workspace is touched.
        """
        used = workspace_usage(root)
        if used < self.limit_bytes:
            return None
        recent: list[tuple[float, str, str, int]] = []  # (mtime, dir, name, size)
        for folder, _dirs, files, dir_fd in os.fwalk(root, follow_symlinks=False):
            for name in files:
                try:
                    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode) and info.st_mtime >= since:
                    recent.append((info.st_mtime, folder, name, info.st_size))
        cut: list[str] = []
        for _mtime, folder, name, size in sorted(recent, reverse=True):
            excess = used - self.limit_bytes
            if excess <= 0:
                break
            keep = max(size - excess, 0)
            if _cut(root, Path(folder), name, keep):
                used -= size - keep
                relative = (Path(folder) / name).relative_to(root)
                cut.append(f"{relative} ({size - keep} bytes removed)")
        return cut


def _cut(root: Path, folder: Path, name: str, keep: int) -> bool:
    """Truncate `name` in `folder` to `keep` bytes, or delete it when `keep` is 0."""
    try:
        dir_fd = os.open(root, _DIR_FLAGS)
        try:
            for part in folder.relative_to(root).parts:
                inner = os.open(part, _DIR_FLAGS, dir_fd=dir_fd)
                os.close(dir_fd)
                dir_fd = inner
            if keep == 0:
                os.unlink(name, dir_fd=dir_fd)
            else:
                fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
                try:
                    if stat.S_ISREG(os.fstat(fd).st_mode):
                        os.ftruncate(fd, keep)
                finally:
                    os.close(fd)
        finally:
            os.close(dir_fd)
    except OSError:
        return False
    return True
