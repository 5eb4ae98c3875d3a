"""A throwaway cgroup per command: `pids` bounds its process count, `memory` its memory.

RLIMIT_NPROC is not enforced for processes that map to host root (the kernel exempts
the root user), so when the server runs as root the pids controller is what bounds a
fork bomb. RLIMIT_AS bounds each process alone - four processes may take four times
as much - so the memory controller is what bounds a command's total. Either is used
where a writable one exists: cgroup v2 with the controller enabled for our cgroup's
children, or a cgroup v1 hierarchy of its own. Under the memory limit the kernel's OOM
killer ends the command (every process of it, see `oom_killed`), swap is not allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ControllerBase:
    """A writable cgroup directory whose children may use `controller`."""

    controller: str  # "pids" or "memory"
    path: Path
    version: int  # 1 or 2


@cache
def controller_base(controller: str) -> ControllerBase | None:
    """Where a child cgroup with this controller can be made, if anywhere."""
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in own:
        _, controllers, rel = line.split(":", 2)
        if controller in controllers.split(","):
            base, version = _cgroup_dir(mounts, "cgroup", rel, needs=controller), 1
        elif controllers == "":
            base, version = _cgroup_dir(mounts, "cgroup2", rel, needs=None), 2
            if base is not None and controller not in _read(base / "cgroup.subtree_control"):
                base = None
        else:
            continue
        if base is not None and os.access(base, os.W_OK):
            return ControllerBase(controller, base, version)
    return None


def pids_cgroup_base() -> Path | None:
    """A writable cgroup directory whose children may get a `pids.max`, if there is one."""
    base = controller_base("pids")
    return base.path if base is not None else None


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


def _counter(text: str, name: str) -> int:
    """`name N` from a flat-keyed cgroup file (memory.events, memory.oom_control)."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name and value.strip().isdigit():
            return int(value)
    return 0


class CommandCgroup:
    """The cgroup(s) of one command: one directory per hierarchy it is limited in."""

    def __init__(self, dirs: list[tuple[Path, int]], memory: ControllerBase | None) -> None:
        self._dirs = dirs  # (path, fd of its cgroup.procs)
        self._memory_dir = next(
            (p for p, _ in dirs if memory is not None and p.parent == memory.path), None
        )
        self._memory_version = memory.version if memory is not None else 0

    @classmethod
    def create(
        cls,
        *,
        pids: ControllerBase | None,
        memory: ControllerBase | None,
        processes: int,
        memory_bytes: int,
    ) -> CommandCgroup | None:
        """Fresh cgroups under the bases given, limits written; None (logged) if refused."""
        name = f"orchestrator-sandbox-{secrets.token_hex(6)}"
        settings: dict[Path, list[tuple[str, str]]] = {}
        if pids is not None:
            settings.setdefault(pids.path, []).append(("pids.max", str(processes)))
        if memory is not None:
            settings.setdefault(memory.path, []).extend(_memory_settings(memory, memory_bytes))
        dirs: list[tuple[Path, int]] = []
        try:
            for base, values in settings.items():
                path = base / name
                path.mkdir()
                dirs.append((path, -1))
                for file, value in values:
                    if file.endswith("?"):  # optional: absent without swap accounting
                        file = file[:-1]
                        if not (path / file).exists():
                            continue
                    (path / file).write_text(value)
                dirs[-1] = (path, os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))
        except OSError as exc:
            log.warning("cannot set up a cgroup for a command: %s", exc)
            for path, fd in dirs:
                if fd >= 0:
                    os.close(fd)
                with contextlib.suppress(OSError):
                    os.rmdir(path)
            return None
        return cls(dirs, memory)

    @property
    def limits_memory(self) -> bool:
        """Whether the memory controller bounds this command."""
        return self._memory_dir is not None

    def join(self) -> None:
        """Move the calling process in (called in the child between fork and exec)."""
        for _, fd in self._dirs:
            os.write(fd, b"0")  # "0" means the writer itself, in v1 and v2

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the command for going over its memory."""
        if self._memory_dir is None:
            return False
        if self._memory_version == 2:
            return _counter(_read(self._memory_dir / "memory.events"), "oom_kill") > 0
        return _counter(_read(self._memory_dir / "memory.oom_control"), "oom_kill") > 0

    def kill_all(self) -> None:
        """SIGKILL every process still in the cgroup(s)."""
        for path, _ in self._dirs:
            for line in _read(path / "cgroup.procs").split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(line), signal.SIGKILL)

    async def remove(self) -> None:
        """Kill what is left, then delete the cgroups once their last process has left."""
        for path, fd in self._dirs:
            os.close(fd)
            await _remove(path, self.kill_all)


async def _remove(path: Path, kill_all: object) -> None:
    delay, deadline = 0.001, time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:  # EBUSY: the last processes are still leaving
            kill_all()  # type: ignore[operator]
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
    log.warning("cgroup %s is still busy; left behind", path)


def _memory_settings(memory: ControllerBase, limit: int) -> list[tuple[str, str]]:
    if memory.version == 2:
        # oom.group: the OOM killer ends the whole command, not its biggest process only.
        return [("memory.max", str(limit)), ("memory.swap.max?", "0"), ("memory.oom.group?", "1")]
    # v1: memsw (memory + swap) must be set after the memory limit it may not undercut.
    return [("memory.limit_in_bytes", str(limit)), ("memory.memsw.limit_in_bytes?", str(limit))]
