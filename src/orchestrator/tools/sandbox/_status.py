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
from orchestrator.tools.sandbox._cgroup import controller_base, pids_cgroup_base
from orchestrator.tools.sandbox._launch import (
    PRLIMIT,
    SANDBOX_UID,
    SEARCH_PATH,
    Launch,
    ResourceLimits,
    bwrap_features,
)
from orchestrator.tools.sandbox._seccomp import seccomp_filter

ENABLE_HINT = (
    "install bubblewrap (`apt-get install bubblewrap`) and allow unprivileged user "
    "namespaces (sysctl kernel.unprivileged_userns_clone=1 or, on Ubuntu, "
    "kernel.apparmor_restrict_unprivileged_userns=0), or let an admin set SANDBOX=none "
    "to run commands without isolation (not recommended)"
)


class SandboxFeature(BaseModel):
    """One protection commands may run under: on or off, and why."""

    on: bool
    detail: str


class SandboxStatus(BaseModel):
    """For `orchestrator doctor`: how commands are isolated here, in words."""

    level: Literal["bwrap", "none", "unavailable"]
    detail: str
    seccomp: SandboxFeature = SandboxFeature(on=False, detail="no sandbox")
    memory_limit: SandboxFeature = SandboxFeature(on=False, detail="no sandbox")
    pids_limit: SandboxFeature = SandboxFeature(on=False, detail="no sandbox")

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
    done = _try(bwrap, limits, None)
    if isinstance(done, str):
        return SandboxStatus(level="unavailable", detail=f"{bwrap}: {done}; {ENABLE_HINT}")
    if done.returncode != 0:
        said = done.stdout.decode(errors="replace").strip().splitlines()[:1]
        reason = said[0] if said else f"exit status {done.returncode}"
        return SandboxStatus(
            level="unavailable",
            detail=f"bubblewrap cannot set up its sandbox ({reason}): {ENABLE_HINT}",
        )
    return SandboxStatus(
        level="bwrap",
        detail=_describe(bwrap, limits),
        seccomp=_seccomp_feature(bwrap, limits),
        memory_limit=_memory_feature(limits),
        pids_limit=_pids_feature(limits),
    )


def _try(
    bwrap: str, limits: ResourceLimits, seccomp: bytes | None
) -> subprocess.CompletedProcess[bytes] | str:
    """Run `true` in the sandbox; the finished process, or what stopped it from starting."""
    try:
        with (
            tempfile.TemporaryDirectory(prefix="orchestrator-probe-") as tmp,
            Launch(
                bwrap,
                Path(tmp),
                "true",
                limits,
                use_cgroup=False,
                use_memory_cgroup=False,
                seccomp=seccomp,
            ) as launch,
        ):
            return subprocess.run(
                launch.argv,
                **launch.popen_kwargs(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=15,
                check=False,
            )
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)


def _seccomp_feature(bwrap: str, limits: ResourceLimits) -> SandboxFeature:
    compiled = seccomp_filter()
    if compiled.program is None:
        return SandboxFeature(on=False, detail=compiled.reason)
    done = _try(bwrap, limits, compiled.program)
    if isinstance(done, str) or done.returncode != 0:
        said = done if isinstance(done, str) else done.stdout.decode(errors="replace").strip()
        return SandboxFeature(on=False, detail=f"bubblewrap refused the filter: {said[:200]}")
    return SandboxFeature(
        on=True,
        detail=f"{compiled.reason}: ptrace, mount, unshare, setns, "
        "keyctl, bpf, userfaultfd, perf_event_open, kexec, modules, "
        "process_vm_*, raw and packet sockets...",
    )


def _memory_feature(limits: ResourceLimits) -> SandboxFeature:
    base = controller_base("memory")
    if base is None:
        return SandboxFeature(
            on=False,
            detail=f"no writable cgroup memory controller; each process is held to "
            f"{limits.address_space_bytes >> 20} MiB of address space (RLIMIT_AS) instead",
        )
    return SandboxFeature(
        on=True,
        detail=f"{limits.memory_bytes >> 20} MiB for all processes of a command together "
        f"(cgroup v{base.version} memory controller at {base.path}), no swap",
    )


def _pids_feature(limits: ResourceLimits) -> SandboxFeature:
    base = controller_base("pids")
    if base is not None:
        return SandboxFeature(
            on=True,
            detail=f"{limits.processes} processes (cgroup v{base.version} pids controller)",
        )
    if os.geteuid() != 0:
        return SandboxFeature(on=True, detail=f"{limits.processes} processes (RLIMIT_NPROC)")
    return SandboxFeature(
        on=False, detail="root without a writable pids cgroup: RLIMIT_NPROC does not bind root"
    )


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
