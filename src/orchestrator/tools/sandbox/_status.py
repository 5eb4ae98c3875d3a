"""Whether commands can run here, and how isolated: probed once by running `bwrap ... true`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from orchestrator.core.config import SandboxMode, Settings
from orchestrator.tools.sandbox._cgroup import pids_cgroup_base
from orchestrator.tools.sandbox._launch import (
    PRLIMIT,
    SANDBOX_UID,
    SEARCH_PATH,
    Launch,
    ResourceLimits,
    bwrap_features,
)

ENABLE_HINT = (
    "install bubblewrap (`apt-get install bubblewrap`) and allow unprivileged user "
    "namespaces (sysctl kernel.unprivileged_userns_clone=1 or, on Ubuntu, "
    "kernel.apparmor_restrict_unprivileged_userns=0), or let an admin set SANDBOX=none "
    "to run commands without isolation (not recommended)"
)


class SandboxStatus(BaseModel):
    """For `orchestrator doctor`: how commands are isolated here, in words."""

    level: Literal["bwrap", "none", "unavailable"]
    detail: str

    @property
    def ok(self) -> bool:
        """Whether execute_command can run at all."""
        return self.level != "unavailable"


_cache: dict[tuple[str, str | None], SandboxStatus] = {}
_lock = threading.Lock()


def find_bwrap() -> str | None:
    """bubblewrap from the system directories (not from a PATH someone could prepend to)."""
    return shutil.which("bwrap", path=SEARCH_PATH)


def cached_status(mode: SandboxMode, bwrap: str | None) -> SandboxStatus | None:
    """The probe's result if it already ran (no blocking)."""
    return _cache.get((str(mode), bwrap))


def sandbox_status(
    settings: Settings, *, bwrap: str | None = None, refresh: bool = False
) -> SandboxStatus:
    """Probe (once, then cached) whether `execute_command` can run, and how isolated."""
    bwrap = bwrap or find_bwrap()
    key = (str(settings.sandbox), bwrap)
    with _lock:
        if refresh or key not in _cache:
            _cache[key] = _probe(settings.sandbox, bwrap)
        return _cache[key]


def _probe(mode: SandboxMode, bwrap: str | None) -> SandboxStatus:
    if mode is SandboxMode.NONE:
        return SandboxStatus(
            level="none",
            detail="SANDBOX=none: commands run UNSANDBOXED as the server's user "
            f"(uid {os.geteuid()}) in the workspace, with rlimits and the timeout only",
        )
    if bwrap is None:
        return SandboxStatus(
            level="unavailable", detail=f"bubblewrap (bwrap) is not installed: {ENABLE_HINT}"
        )
    limits = ResourceLimits()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="orchestrator-probe-") as tmp,
            Launch(bwrap, Path(tmp), "true", limits, use_cgroup=False) as launch,
        ):
            done = subprocess.run(
                launch.argv,
                **launch.popen_kwargs(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=15,
                check=False,
            )
    except (OSError, subprocess.SubprocessError) as exc:
        return SandboxStatus(level="unavailable", detail=f"{bwrap}: {exc}; {ENABLE_HINT}")
    if done.returncode != 0:
        said = done.stdout.decode(errors="replace").strip().splitlines()[:1]
        reason = said[0] if said else f"exit status {done.returncode}"
        return SandboxStatus(
            level="unavailable",
            detail=f"bubblewrap cannot set up its sandbox ({reason}): {ENABLE_HINT}",
        )
    return SandboxStatus(level="bwrap", detail=_describe(bwrap, limits))


def _describe(bwrap: str, limits: ResourceLimits) -> str:
    if os.geteuid() != 0:
        procs = f"{limits.processes} processes (RLIMIT_NPROC)"
    elif pids_cgroup_base() is not None:
        procs = f"{limits.processes} processes (pids cgroup)"
    else:
        procs = "process count NOT limited (root without a writable pids cgroup)"
    if os.path.exists(PRLIMIT):
        rlimits = (
            f"{limits.cpu_seconds} s CPU, {limits.address_space_bytes >> 20} MiB address "
            f"space, {limits.file_size_bytes >> 20} MiB per file"
        )
    else:
        rlimits = "rlimits set before bwrap (prlimit is missing)"
    return (
        f"{bwrap_features(bwrap).version}: user/pid/net/ipc/uts namespaces, uid {SANDBOX_UID}, "
        f"no capabilities, no network; limits: {rlimits}, {procs}"
    )
