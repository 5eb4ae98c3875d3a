"""A long-lived program in the sandbox (an MCP server, say), talking over pipes.

Same isolation as a command (`Launch`), but the program is an argv rather than a shell
line, its stdin and stdout are pipes its owner reads and writes, stderr keeps only a
short tail, and it lives until `stop()` (or its own exit), which kills the whole tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestrator.core.config import Settings
from orchestrator.core.errors import SandboxUnavailable
from orchestrator.tools.sandbox._launch import Launch, ProgramSpec, ResourceLimits
from orchestrator.tools.sandbox._runner import _ProcessTree, sandbox_binary
from orchestrator.tools.sandbox._seccomp import seccomp_filter
from orchestrator.tools.sandbox._status import cached_status, find_bwrap

STDERR_TAIL_BYTES = 2048
# A server runs for hours: CPU seconds add up, and runtimes such as node reserve far
# more address space than they use. The pids cgroup and the timeouts still bound it.
SERVER_LIMITS = ResourceLimits(
    cpu_seconds=6 * 3600, address_space_bytes=64 * 1024**3, open_files=1024, processes=128
)


class SandboxedProcess:
    """One running program: `stdin`, `stdout`, the tail of its stderr, and `stop()`."""

    def __init__(self, launch: Launch, process: asyncio.subprocess.Process) -> None:
        self._launch = launch
        self._tree = _ProcessTree(process, launch.info_read)
        self.process = process
        assert process.stdin is not None and process.stdout is not None
        self.stdin: asyncio.StreamWriter = process.stdin
        self.stdout: asyncio.StreamReader = process.stdout
        self._stderr = bytearray()
        self._tasks = [asyncio.create_task(self._tree.track_namespace())]
        if process.stderr is not None:
            self._tasks.append(asyncio.create_task(self._drain_stderr(process.stderr)))
        self._stopped = False

    @classmethod
    async def start(
        cls,
        settings: Settings,
        argv: Sequence[str],
        workspace: Path,
        *,
        env: Mapping[str, str] | None = None,
        ro_paths: Sequence[Path] = (),
        network: bool = False,
        limits: ResourceLimits = SERVER_LIMITS,
        bwrap: str | None = None,
        use_seccomp: bool = True,
    ) -> SandboxedProcess:
        """Start `argv` in the sandbox with the workspace as its working directory, under
        the same seccomp filter as commands (where the probe found it works)."""
        binary = await sandbox_binary(settings, bwrap)
        program = ProgramSpec(argv=argv, env=dict(env or {}), ro_paths=ro_paths, network=network)
        seccomp = None
        if binary is not None and use_seccomp:
            status = cached_status(settings.sandbox, bwrap or find_bwrap())
            if status is not None and status.seccomp.on:  # else `doctor` says why
                seccomp = seccomp_filter().program
        launch = Launch(binary, workspace, "", limits, program=program, seccomp=seccomp)
        launch.__enter__()
        try:
            kwargs = launch.popen_kwargs()
            kwargs.pop("stdin")
            process = await asyncio.create_subprocess_exec(
                *launch.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=1024 * 1024,
                **kwargs,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            launch.__exit__(None, None, None)
            if launch.cgroup is not None:
                await launch.cgroup.remove()
            raise SandboxUnavailable(f"{argv[0]} could not be started: {exc}") from exc
        launch.close_child_ends()
        return cls(launch, process)

    @property
    def pid(self) -> int:
        """bwrap's (or the program's) pid on the host."""
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the program has ended."""
        return self.process.returncode

    def stderr_tail(self) -> str:
        """The last bytes the program wrote to stderr."""
        return bytes(self._stderr).decode("utf-8", errors="replace").strip()

    async def wait(self) -> int:
        """Wait until the program exits; its exit status."""
        return await self.process.wait()

    async def stop(self) -> None:
        """Kill the program and everything it started, and wait until all of it is gone."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            self.stdin.close()
        tracking = self._tasks[0]
        try:
            # The namespace init's pid first (bwrap reports it within milliseconds):
            # killing bwrap alone would orphan the tree.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(tracking), 5)
            await self._tree.stop()
        finally:
            for task in self._tasks:
                task.cancel()
            self._launch.__exit__(None, None, None)
            if self._launch.cgroup is not None:
                await self._launch.cgroup.remove()

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            self._stderr += chunk
            del self._stderr[:-STDERR_TAIL_BYTES]
