"""Attacks on the tighter sandbox: refused system calls, a memory bomb, a disk filler,
and bwrap's own command line, each in the real bubblewrap sandbox."""

from __future__ import annotations

import asyncio
import json
import os
import textwrap
from pathlib import Path

import psutil
import pytest

from orchestrator.core.config import Settings
from orchestrator.tools.sandbox import (
    ResourceLimits,
    SandboxedCommandRunner,
    SandboxedProcess,
    sandbox_status,
)
from orchestrator.tools.workspace import Workspace, usage_bytes

pytestmark = pytest.mark.usefixtures("sandboxed")
MIB = 1024 * 1024


def workspace_usage(root: Path) -> int:
    """The count uploads, file tools and commands share."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return usage_bytes(fd)
    finally:
        os.close(fd)


# Each probe prints NAME=errno (0: the call worked) from inside the sandbox.
SYSCALL_PROBE = textwrap.dedent(
    """
    import ctypes, os, socket
    libc = ctypes.CDLL(None, use_errno=True)
    def call(name, number, *args):
        ctypes.set_errno(0)
        result = libc.syscall(number, *args)
        print(f"{name}={ctypes.get_errno() if result == -1 else 0}")
    call("ptrace", 101, 16, 999999, 0, 0)       # PTRACE_ATTACH to a pid that is not there
    call("mount", 165, b"none", b"/tmp", b"tmpfs", 0, 0)
    call("unshare", 272, 0x10000000)           # CLONE_NEWUSER
    call("unshare_ns", 272, 0x00020000)        # CLONE_NEWNS
    call("setns", 308, 0, 0)
    call("keyctl", 250, 0, 0, 0, 0, 0)
    call("bpf", 321, 0, 0, 0)
    call("userfaultfd", 323, 0)
    call("perf_event_open", 298, 0, 0, -1, -1, 0)
    call("kexec_load", 246, 0, 0, 0, 0)
    call("init_module", 175, 0, 0, 0)
    call("finit_module", 313, -1, 0, 0)
    call("process_vm_readv", 310, 1, 0, 0, 0, 0, 0)
    call("process_vm_writev", 311, 1, 0, 0, 0, 0, 0)
    call("clone_newuser", 56, 0x10000000 | 17, 0, 0, 0, 0)
    call("clone3", 435, 0, 0)
    for name, family, kind in (
        ("raw_socket", socket.AF_INET, socket.SOCK_RAW),
        ("raw6_socket", socket.AF_INET6, socket.SOCK_RAW | socket.SOCK_CLOEXEC),
        ("packet_socket", socket.AF_PACKET, socket.SOCK_RAW),
    ):
        try:
            socket.socket(family, kind).close()
            print(f"{name}=0")
        except OSError as exc:
            print(f"{name}={exc.errno}")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.close(); print("tcp_socket=0")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.close(); print("unix_socket=0")
    print("getpid=0" if os.getpid() > 0 else "getpid=1")
    """
)


def runner(settings: Settings, **options: object) -> SandboxedCommandRunner:
    return SandboxedCommandRunner(settings, **options)  # type: ignore[arg-type]


async def probe(settings: Settings, workspace: Workspace, **options: object) -> dict[str, int]:
    (workspace.root / "probe.py").write_text(SYSCALL_PROBE)
    result = await runner(settings, **options).run("python3 probe.py 2>&1", workspace.root)
    assert result.exit_code == 0, result.output
    return {k: int(v) for k, v in (line.split("=") for line in result.output.split())}


async def test_seccomp_refuses_escape_and_spying_syscalls(
    settings: Settings, workspace: Workspace
) -> None:
    if not sandbox_status(settings).seccomp.on:
        pytest.fail(f"seccomp is off: {sandbox_status(settings).seccomp.detail}")
    seen = await probe(settings, workspace)
    eperm, enosys = 1, 38
    refused = [name for name in seen if name not in {"tcp_socket", "unix_socket", "getpid"}]
    for name in refused:
        expected = enosys if name == "clone3" else eperm
        assert seen[name] == expected, f"{name} answered errno {seen[name]}"
    assert seen["tcp_socket"] == seen["unix_socket"] == seen["getpid"] == 0
    # Ordinary work still runs under the filter.
    ok = await runner(settings).run(
        'python3 -c \'import subprocess; print(subprocess.run(["echo", "fine"], '
        "capture_output=True).stdout.decode())'; sh -c 'sleep 0.1 & wait'; echo done",
        workspace.root,
    )
    assert ok.exit_code == 0 and ok.output.split() == ["fine", "done"]


async def test_without_seccomp_the_same_probe_is_only_held_by_namespaces(
    settings: Settings, workspace: Workspace
) -> None:
    """The control: the probe tells the filter's answers from the kernel's own."""
    seen = await probe(settings, workspace, use_seccomp=False)
    assert seen["ptrace"] == 3  # ESRCH: the kernel looked for the pid; the filter never lets it
    assert seen["clone3"] != 38  # clone3 exists; only the filter makes it ENOSYS
    assert seen["getpid"] == 0


async def test_proc_1_cmdline_shows_no_host_path(settings: Settings, workspace: Workspace) -> None:
    result = await runner(settings).run(
        "cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/1/environ | tr '\\0' ' ';"
        "ls -l /proc/self/fd /proc/1/fd 2>&1",
        workspace.root,
    )
    assert result.exit_code is not None
    for secret in (str(settings.data_dir), str(workspace.root), "workspaces", "/etc/ld.so"):
        assert secret not in result.output, result.output
    assert " --args " in result.output.splitlines()[0]  # bwrap options came by fd


async def test_a_memory_bomb_ends_with_a_memory_limit_result(
    settings: Settings, workspace: Workspace
) -> None:
    if not sandbox_status(settings).memory_limit.on:
        pytest.fail(f"memory limit is off: {sandbox_status(settings).memory_limit.detail}")
    limit = 256 * MIB
    bomb = runner(settings, limits=ResourceLimits(memory_bytes=limit))
    # Four processes of 900 MiB each, every page touched: 3.5 GiB if nothing held them.
    allocate = (
        'python3 -c \'x = bytearray(900 * 1024**2); x[::4096] = b"x" * len(x[::4096]); '
        "import time; time.sleep(5)'"
    )
    command = f"for i in 1 2 3 4; do {allocate} & done; wait; echo survived"
    before = psutil.virtual_memory().available
    lowest = before
    task = asyncio.create_task(bomb.run(command, workspace.root, timeout=20))
    while not task.done():
        lowest = min(lowest, psutil.virtual_memory().available)
        await asyncio.sleep(0.02)
    result = await task
    assert result.stopped_by == "memory_limit", result
    assert "memory limit of 256 MiB" in result.output and "survived" not in result.output
    assert not result.timed_out and result.duration_ms < 15_000
    # The host lent it at most the limit (plus slack for the rest of this busy machine).
    assert before - lowest < limit + 512 * MIB
    again = await bomb.run("echo fine", workspace.root)
    assert again.output == "fine\n" and again.stopped_by is None


async def test_one_file_cannot_fill_the_disk_past_the_quota(
    settings: Settings, workspace: Workspace
) -> None:
    tight = settings.model_copy(update={"workspace_quota_mb": 8})
    (workspace.root / "kept.txt").write_bytes(b"k" * MIB)
    result = await runner(tight).run(
        "dd if=/dev/zero of=fill bs=1M count=100 2>&1; yes > more; echo after", workspace.root
    )
    assert result.stopped_by == "workspace_quota", result
    assert "workspace quota of 8 MiB" in result.output
    assert workspace_usage(workspace.root) <= 8 * MIB
    assert (workspace.root / "kept.txt").read_bytes() == b"k" * MIB  # older files untouched


async def test_many_files_cannot_fill_the_disk_past_the_quota(
    settings: Settings, workspace: Workspace
) -> None:
    tight = settings.model_copy(update={"workspace_quota_mb": 16})
    (workspace.root / "kept.txt").write_bytes(b"k" * MIB)
    result = await runner(tight).run(
        "i=0; while [ $i -lt 400 ]; do head -c 1048576 /dev/zero > f$i; i=$((i+1)); done; "
        "echo wrote-all",
        workspace.root,
        timeout=20,
    )
    assert result.stopped_by == "workspace_quota", result
    assert "wrote-all" not in result.output and not result.timed_out
    assert workspace_usage(workspace.root) <= 16 * MIB  # the excess is not left behind
    assert (workspace.root / "kept.txt").read_bytes() == b"k" * MIB
    removed = result.output.rsplit("removed:", 1)[1]
    assert "bytes removed" in removed


async def test_a_command_within_the_quota_is_untouched(
    settings: Settings, workspace: Workspace
) -> None:
    result = await runner(settings).run("head -c 2000000 /dev/zero > ok; ls", workspace.root)
    assert result.stopped_by is None and result.output == "ok\n"
    assert (workspace.root / "ok").stat().st_size == 2_000_000


def test_doctor_reports_each_protection(settings: Settings) -> None:
    from orchestrator.diagnostics import check_sandbox

    checks = {c.name: c for c in check_sandbox(settings)}
    for name in ("sandbox seccomp", "sandbox memory limit", "sandbox pids limit"):
        assert checks[name].detail.startswith(("on: ", "off: "))
    assert checks["workspace quota"].detail.startswith("on: 1024 MiB")
    status = sandbox_status(settings)
    assert checks["sandbox seccomp"].detail.startswith("on" if status.seccomp.on else "off")
    json.dumps(status.model_dump())  # doctor's facts are plain data
    assert Path("/proc/self/cgroup").exists()


async def probe_as_program(
    settings: Settings, workspace: Workspace, **options: object
) -> dict[str, int]:
    """The probe as a long-lived program (an MCP server's way in), reading its stdout."""
    (workspace.root / "probe.py").write_text(SYSCALL_PROBE)
    process = await SandboxedProcess.start(
        settings,
        ["/usr/bin/python3", "probe.py"],
        workspace.root,
        limits=ResourceLimits(),
        **options,  # type: ignore[arg-type]
    )
    try:
        output = await asyncio.wait_for(process.stdout.read(), 30)
        assert await process.wait() == 0, process.stderr_tail()
    finally:
        await process.stop()
    return {k: int(v) for k, v in (line.split("=") for line in output.decode().split())}


async def test_long_lived_programs_run_under_the_same_seccomp_filter(
    settings: Settings, workspace: Workspace
) -> None:
    """MCP stdio servers are started as programs: they get the commands' filter too."""
    if not sandbox_status(settings).seccomp.on:
        pytest.fail(f"seccomp is off: {sandbox_status(settings).seccomp.detail}")
    seen = await probe_as_program(settings, workspace)
    eperm, enosys = 1, 38
    for name in ("ptrace", "mount", "unshare", "setns", "bpf", "process_vm_readv", "raw_socket"):
        assert seen[name] == eperm, f"{name} answered errno {seen[name]}"
    assert seen["clone3"] == enosys
    assert seen["tcp_socket"] == seen["getpid"] == 0
    control = await probe_as_program(settings, workspace, use_seccomp=False)
    assert control["ptrace"] == 3  # ESRCH: without the filter the kernel answers
