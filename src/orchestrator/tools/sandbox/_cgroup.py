"""An optional throwaway `pids` cgroup per command.

RLIMIT_NPROC is not enforced for processes that map to host root (the kernel exempts
the root user), so when the server runs as root this is what bounds a fork bomb -
where a writable pids controller exists: cgroup v1 `pids`, or cgroup v2 with `pids`
enabled for our cgroup's children.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import time
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)


@cache
def pids_cgroup_base() -> Path | None:
    """A writable cgroup directory whose children may get a `pids.max`, if there is one."""
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in own:
        _, controllers, rel = line.split(":", 2)
        if "pids" in controllers.split(","):
            base = _cgroup_dir(mounts, "cgroup", rel, needs="pids")
        elif controllers == "":
            base = _cgroup_dir(mounts, "cgroup2", rel, needs=None)
            if base is not None and "pids" not in _read(base / "cgroup.subtree_control"):
                base = None
        else:
            continue
        if base is not None and os.access(base, os.W_OK):
            return base
    return None


def _cgroup_dir(mounts: list[str], fstype: str, rel: str, needs: str | None) -> Path | None:
    """Where the cgroup `rel` of a hierarchy is mounted, from /proc/self/mountinfo."""
    for line in mounts:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] != fstype:
            continue
        if needs is not None and needs not in tail[2].split(","):
            continue
        root, mount_point = fields[3], fields[4]
        if rel == root or rel.startswith(root.rstrip("/") + "/"):
            return Path(mount_point) / rel[len(root) :].lstrip("/")
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class PidsCgroup:
    """A cgroup of its own for one command, with `pids.max` set."""

    def __init__(self, path: Path, procs_fd: int) -> None:
        self.path, self._procs_fd = path, procs_fd

    @classmethod
    def create(cls, base: Path, limit: int) -> PidsCgroup | None:
        """A fresh cgroup under `base`, or None (logged) when the kernel refuses."""
        path = base / f"orchestrator-sandbox-{secrets.token_hex(6)}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(limit))
            fd = os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            log.warning("cannot set up a pids cgroup in %s: %s", base, exc)
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return cls(path, fd)

    def join(self) -> None:
        """Move the calling process into this cgroup (called in the child before exec)."""
        os.write(self._procs_fd, b"0")  # "0" means the writer itself, in v1 and v2

    def kill_all(self) -> None:
        """SIGKILL every process still in the cgroup (a last resort against leftovers)."""
        for line in _read(self.path / "cgroup.procs").split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(line), signal.SIGKILL)

    async def remove(self) -> None:
        """Kill what is left, then delete the cgroup once its last process has left."""
        os.close(self._procs_fd)
        delay, deadline = 0.001, time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:  # EBUSY: the last processes are still leaving
                self.kill_all()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.1)
        log.warning("cgroup %s is still busy; left behind", self.path)
