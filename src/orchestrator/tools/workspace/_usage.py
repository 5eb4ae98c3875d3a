"""How much a workspace holds, and the room left under WORKSPACE_QUOTA_MB.

Usage is the apparent size (`st_size`) of the regular files, each inode counted once
(hard links do not count twice), walked fd by fd from the root without following a link.
A sparse file counts at its full size: over-counting is the safe side of a quota.
"""

from __future__ import annotations

import os
import stat

from orchestrator.core.errors import WorkspaceQuotaExceeded
from orchestrator.tools.workspace._fs import DIR_FLAGS

MIB = 1024 * 1024
MAX_USAGE_DEPTH = 256  # deeper directories are not descended (each level holds an fd)


def usage_bytes(root_fd: int) -> int:
    """Total size of the regular files beneath `root_fd`."""
    seen: set[tuple[int, int]] = set()
    return _directory_usage(root_fd, seen, 0)


def _directory_usage(dir_fd: int, seen: set[tuple[int, int]], depth: int) -> int:
    total = 0
    try:
        entries = list(os.scandir(dir_fd))
    except OSError:
        return 0  # vanished or unreadable meanwhile: nothing to count
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key not in seen:
                seen.add(key)
                total += st.st_size
        elif stat.S_ISDIR(st.st_mode) and depth < MAX_USAGE_DEPTH:
            try:
                child = os.open(entry.name, DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue  # replaced by a link, or removed, meanwhile
            try:
                total += _directory_usage(child, seen, depth + 1)
            finally:
                os.close(child)
    return total


def room_left(quota_bytes: int | None, used: int, replaced: int = 0) -> int | None:
    """Bytes that may still be written (`replaced`: the size of a file being replaced)."""
    if quota_bytes is None:
        return None
    return max(quota_bytes - (used - replaced), 0)


def quota_error(quota_bytes: int, used: int, wanted: int) -> WorkspaceQuotaExceeded:
    """The error that says the quota would be exceeded, with the figures."""
    return WorkspaceQuotaExceeded(
        f"the workspace quota (WORKSPACE_QUOTA_MB = {quota_bytes // MIB} MB) would be "
        f"exceeded: {_mb(used)} used, {_mb(wanted)} more asked for; delete files to make room",
        quota_bytes=quota_bytes,
        used_bytes=used,
    )


def _mb(size: int) -> str:
    return f"{size / MIB:.1f} MB" if size >= MIB // 10 else f"{size} bytes"
