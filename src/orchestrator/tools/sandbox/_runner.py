"""Start a command, stream and cap its output, and kill its whole tree when it is over."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import re
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from orchestrator.core.config import SandboxMode, Settings
from orchestrator.core.errors import SandboxUnavailable, ToolArgumentError
from orchestrator.tools.sandbox._launch import Launch, ResourceLimits
from orchestrator.tools.sandbox._quota import CommandQuota, workspace_usage
from orchestrator.tools.sandbox._seccomp import seccomp_filter
from orchestrator.tools.sandbox._status import (
    SandboxStatus,
    cached_status,
    find_bwrap,
    sandbox_status,
)
from orchestrator.tools.workspace import UsageLedger

log = logging.getLogger(__name__)

OutputCallback = Callable[[str], Awaitable[None]]
MAX_OUTPUT_BYTES = 64 * 1024
_WATCH_SECONDS = 0.1  # how often the memory cgroup is looked at while a command runs
_QUOTA_EVERY = 5  # and the workspace's size, every this many looks
_FULL_WORKSPACE_FILE_BYTES = 1024 * 1024
_REAP_SECONDS = 10.0


StopReason = Literal["memory_limit", "workspace_quota"]


class CommandResult(BaseModel):
    """What a command did; `exit_code` is None when the timeout stopped it."""

    exit_code: int | None
    output: str  # stdout and stderr, merged
    truncated: bool = False
    timed_out: bool = False
    # A limit that ended it (its output ends with a line saying so), if one did.
    stopped_by: StopReason | None = None
    duration_ms: int


class SandboxedCommandRunner:
    """Runs `/bin/sh -c COMMAND` in a workspace under the configured sandbox."""

    def __init__(
        self,
        settings: Settings,
        *,
        limits: ResourceLimits | None = None,
        max_output_bytes: int = MAX_OUTPUT_BYTES,
        bwrap: str | None = None,
        use_pids_cgroup: bool = True,
        use_memory_cgroup: bool = True,
        use_seccomp: bool = True,
    ) -> None:
        self.settings = settings
        self.limits = limits or ResourceLimits()
        self.max_output_bytes = max_output_bytes
        self.quota = CommandQuota.from_settings(settings)
        self._bwrap = bwrap
        self._use_pids_cgroup = use_pids_cgroup
        self._use_memory_cgroup = use_memory_cgroup
        self._use_seccomp = use_seccomp

    async def run(
        self,
        command: str,
        workspace: Path,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-call cap, part of the API
        on_output: OutputCallback | None = None,
    ) -> CommandResult:
        """Run the command; on timeout or cancellation every process it started is killed."""
        if not command.strip():
            raise ToolArgumentError("the command is empty")
        if "\x00" in command:
            raise ToolArgumentError("the command contains a NUL byte")
        limit = min(timeout or self.settings.command_timeout, self.settings.command_timeout)
        bwrap = await self._sandbox_binary()
        started, since = time.monotonic(), time.time()
        # No single file may outgrow what is left of the quota: the kernel stops it there
        # (a full workspace still lets small files be written, after a `rm` say: the watch
        # and the trim below take care of what goes over).
        room = await asyncio.to_thread(self.quota.remaining, workspace)
        file_cap = min(self.limits.file_size_bytes, max(room, _FULL_WORKSPACE_FILE_BYTES))
        limits = replace(self.limits, file_size_bytes=file_cap)
        sink = _OutputSink(self.max_output_bytes, on_output)
        seccomp = seccomp_filter().program if bwrap is not None and self._use_seccomp else None
        if seccomp is not None and not self._status().seccomp.on:
            seccomp = None  # doctor says why
        with Launch(
            bwrap,
            workspace,
            command,
            limits,
            use_cgroup=self._use_pids_cgroup,
            use_memory_cgroup=self._use_memory_cgroup,
            seccomp=seccomp,
        ) as launch:
            watch = _Watch(launch, self.quota, workspace)
            try:
                exit_code, timed_out = await _supervise(launch, sink, limit, watch)
            finally:
                if launch.cgroup is not None:
                    await launch.cgroup.remove()
                # Whatever the command wrote or removed, the quota's count walks it again.
                ledger = UsageLedger.for_root(self.settings, workspace)
                if ledger is not None:
                    await asyncio.to_thread(ledger.invalidate)
        output = sink.text()
        stopped_by = watch.stopped_by
        if stopped_by == "memory_limit":
            output += (
                f"\n[stopped: the command went over its memory limit of "
                f"{self.limits.memory_bytes >> 20} MiB]"
            )
        elif stopped_by == "workspace_quota" or file_cap < self.limits.file_size_bytes:
            note = await asyncio.to_thread(self._quota_note, workspace, since, room)
            if note:
                stopped_by, output = "workspace_quota", f"{output}\n{note}"
        return CommandResult(
            exit_code=exit_code,
            output=output,
            truncated=sink.truncated,
            timed_out=timed_out,
            stopped_by=stopped_by,
            duration_ms=round((time.monotonic() - started) * 1000),
        )

    def _quota_note(self, workspace: Path, since: float, room: int) -> str | None:
        """After a command that filled the workspace: trim what it wrote over the quota."""
        trimmed = self.quota.trim(workspace, since)
        if trimmed is None:
            return None
        limit = self.quota.limit_bytes >> 20
        what = "; ".join(trimmed) if trimmed else "nothing had to be removed"
        return (
            f"[stopped: the workspace quota of {limit} MiB is reached "
            f"({room >> 20} MiB were free when the command started). Written over the "
            f"quota by this command and removed: {what}]"
        )

    def _status(self) -> SandboxStatus:
        status = cached_status(self.settings.sandbox, self._bwrap or find_bwrap())
        assert status is not None  # _sandbox_binary probed it
        return status

    async def _sandbox_binary(self) -> str | None:
        """bwrap's path, None for SANDBOX=none; SandboxUnavailable when it cannot work."""
        return await sandbox_binary(self.settings, self._bwrap)


async def sandbox_binary(settings: Settings, bwrap: str | None = None) -> str | None:
    """bwrap's path, None for SANDBOX=none; SandboxUnavailable when it cannot work."""
    if settings.sandbox is SandboxMode.NONE:
        return None
    bwrap = bwrap or find_bwrap()
    status = cached_status(settings.sandbox, bwrap)
    if status is None:
        status = await asyncio.to_thread(sandbox_status, settings, bwrap=bwrap)
    if status.level != "bwrap" or bwrap is None:
        raise SandboxUnavailable(f"commands cannot run here: {status.detail}")
    return bwrap


class _Watch:
    """Polls, while the command runs, the limits the kernel cannot end it on by itself."""

    def __init__(self, launch: Launch, quota: CommandQuota, workspace: Path) -> None:
        self.launch, self.quota, self.workspace = launch, quota, workspace
        self.stopped_by: StopReason | None = None

    async def __call__(self) -> StopReason:
        """Return once a limit is crossed (never returns otherwise)."""
        tick = 0
        while True:
            await asyncio.sleep(_WATCH_SECONDS)
            tick += 1
            if self.oom_killed():
                return "memory_limit"
            if tick % _QUOTA_EVERY == 0:
                used = await asyncio.to_thread(workspace_usage, self.workspace)
                if used > self.quota.limit_bytes:
                    self.stopped_by = "workspace_quota"
                    return "workspace_quota"

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the command over its memory limit."""
        cgroup = self.launch.cgroup
        if cgroup is not None and cgroup.oom_killed():
            self.stopped_by = "memory_limit"
        return self.stopped_by == "memory_limit"


async def _supervise(
    launch: Launch, sink: _OutputSink, limit: float, watch: _Watch
) -> tuple[int | None, bool]:
    """(exit code, timed out); whatever happens, nothing of the command outlives this."""
    starting = asyncio.ensure_future(_start(launch, sink))
    try:
        tree, pump = await asyncio.shield(starting)
    except asyncio.CancelledError:
        # Cancelled while bwrap was starting: asyncio would kill bwrap alone and orphan
        # its namespace init, so let the start finish (milliseconds), then kill it all.
        tree, pump = await starting
        await _shutdown(tree, pump)
        raise
    watcher = asyncio.create_task(watch())
    try:
        async with asyncio.timeout(limit):
            await tree.track_namespace()
            waiting = asyncio.ensure_future(tree.process.wait())
            await asyncio.wait({waiting, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if not waiting.done():  # a limit was crossed: end all of it now
                tree.kill()
            await waiting
        watch.oom_killed()  # the OOM killer may have struck just before the exit
        return _exit_code(tree.process.returncode), False
    except TimeoutError:
        return None, True
    finally:
        watcher.cancel()
        await _shutdown(tree, pump)


async def _start(launch: Launch, sink: _OutputSink) -> tuple[_ProcessTree, asyncio.Task[None]]:
    try:
        process = await asyncio.create_subprocess_exec(
            *launch.argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=subprocess.STDOUT,
            **launch.popen_kwargs(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxUnavailable(f"the command could not be started: {exc}") from exc
    launch.close_child_ends()
    assert process.stdout is not None
    return _ProcessTree(process, launch.info_read), asyncio.create_task(sink.pump(process.stdout))


async def _shutdown(tree: _ProcessTree, pump: asyncio.Task[None]) -> None:
    await tree.stop()
    await _finish_pump(pump, tree)


def _exit_code(code: int | None) -> int | None:
    if code is not None and code < 0:
        return 128 - code  # killed by a signal, reported as a shell would
    return code


async def _finish_pump(pump: asyncio.Task[None], tree: _ProcessTree) -> None:
    """Collect the remaining output; a stray process holding the pipe is not waited for."""
    try:
        await asyncio.wait_for(asyncio.shield(pump), 2)
        return
    except TimeoutError:
        tree.kill_group()
    try:
        await asyncio.wait_for(asyncio.shield(pump), 0.5)
    except TimeoutError:  # SANDBOX=none: a daemon that left our process group
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump


class _OutputSink:
    """Merged stdout/stderr: the first `limit` bytes kept and streamed, the rest drained."""

    def __init__(self, limit: int, on_output: OutputCallback | None) -> None:
        self._limit, self._on_output = limit, on_output
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: list[str] = []
        self._size = 0
        self.truncated = False

    async def pump(self, stream: asyncio.StreamReader) -> None:
        """Read until EOF; keeps draining past the cap so the command never blocks on us."""
        while chunk := await stream.read(65536):
            room = self._limit - self._size
            if len(chunk) > room:
                self.truncated = True
                chunk = chunk[: max(room, 0)]
            if not chunk:
                continue
            self._size += len(chunk)
            text = self._decoder.decode(chunk)
            self._parts.append(text)
            if text and self._on_output is not None:
                await self._stream(text)

    async def _stream(self, text: str) -> None:
        assert self._on_output is not None
        try:
            await self._on_output(text)
        except Exception:  # a gone listener must not lose the command's result
            log.warning("output callback failed; output is still collected", exc_info=True)
            self._on_output = None

    def text(self) -> str:
        """Everything kept, with a note when some was cut."""
        text = "".join(self._parts) + self._decoder.decode(b"", final=True)
        if self.truncated:
            text += f"\n[output truncated: only the first {self._limit} bytes are shown]"
        return text


class _ProcessTree:
    """bwrap (or sh) and, with bwrap, the init of its pid namespace.

    bwrap's namespace init runs in a session of its own and does not die with bwrap,
    so it must be killed by pid: bwrap reports that pid on --info-fd right after it
    creates the namespace, and we hold a pidfd on it (no pid-reuse races).
    """

    _CHILD_PID = re.compile(rb'"child-pid"\s*:\s*(\d+)')

    def __init__(self, process: asyncio.subprocess.Process, info_fd: int | None) -> None:
        self.process = process
        self._info_fd = info_fd
        self._info = b""
        self._pidfd: int | None = None

    async def track_namespace(self) -> None:
        """Read the namespace init's pid from --info-fd and hold a pidfd on it."""
        if self._info_fd is None:
            return
        while not self._info.rstrip().endswith(b"}"):
            chunk = await _read_when_ready(self._info_fd)
            if not chunk:
                break
            self._info += chunk
        self._info_fd = None
        match = self._CHILD_PID.search(self._info)
        if match is not None:
            with contextlib.suppress(ProcessLookupError):
                self._pidfd = os.pidfd_open(int(match.group(1)))

    async def stop(self) -> None:
        """Kill whatever still runs and wait until all of it is gone."""
        try:
            if self._info_fd is not None and self.process.returncode is None:
                # Stopped before we knew the init's pid: learn it first (bwrap writes it
                # within milliseconds), since killing bwrap first would orphan the init.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self.track_namespace()), 5)
        finally:
            self.kill()  # even if this cleanup is itself cancelled
        await self.reap()

    def kill(self) -> None:
        """SIGKILL the namespace init (the kernel then kills all in it) and bwrap's group."""
        if self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
        if self.process.returncode is None:
            self.kill_group()

    def kill_group(self) -> None:
        """SIGKILL the process group bwrap (or sh) leads."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    async def reap(self) -> None:
        """Wait, bounded, until bwrap and the namespace init (so all of the tree) are gone."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), _REAP_SECONDS)
        if self._pidfd is None:
            return
        try:
            await asyncio.wait_for(_readable(self._pidfd), _REAP_SECONDS)
        except TimeoutError:
            log.error("a sandbox's pid namespace did not exit within %s s", _REAP_SECONDS)
        finally:
            os.close(self._pidfd)
            self._pidfd = None


async def _read_when_ready(fd: int) -> bytes:
    """One read from a pipe without blocking the event loop; b"" at its end."""
    os.set_blocking(fd, False)
    while True:
        try:
            return os.read(fd, 4096)
        except BlockingIOError:
            await _readable(fd)
        except OSError:
            return b""


async def _readable(fd: int) -> None:
    """Wait until the fd is readable (for a pidfd: until its process has exited)."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
