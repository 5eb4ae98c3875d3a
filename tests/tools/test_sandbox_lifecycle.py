"""The life of a command: output, limits, timeout and cancellation, and the unsandboxed mode."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import pytest

from orchestrator.core.config import SandboxMode, Settings
from orchestrator.core.errors import SandboxUnavailable
from orchestrator.tools.base import ToolContext
from orchestrator.tools.registry import ToolRegistry
from orchestrator.tools.sandbox import (
    MAX_OUTPUT_BYTES,
    ResourceLimits,
    SandboxedCommandRunner,
    sandbox_status,
)
from orchestrator.tools.workspace import Workspace
from tests.tools.conftest import processes_with

sandboxed = pytest.mark.usefixtures("sandboxed")


def daemon(marker: str) -> str:
    """Shell that starts a double-forked, setsid daemon and waits until it runs."""
    sleeper = "import time; open('started', 'w').close(); time.sleep(1000)"
    return (
        f'(setsid python3 -c "{sleeper}" {marker} > /dev/null 2>&1 &) ; '
        "while [ ! -e started ]; do sleep 0.01; done; echo up"
    )


async def wait_for_processes(marker: str, timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while not (found := processes_with(marker)):
        assert time.monotonic() < deadline, "the command never started"
        await asyncio.sleep(0.02)
    return found


@sandboxed
async def test_command_output_and_exit_code_are_returned(
    settings: Settings, workspace: Workspace
) -> None:
    runner = SandboxedCommandRunner(settings)
    result = await runner.run("echo hello; echo oops >&2; exit 3", workspace.root)
    assert (result.exit_code, result.output, result.timed_out) == (3, "hello\noops\n", False)
    killed = await runner.run("kill -9 $$", workspace.root)
    assert killed.exit_code == 137
    assert (await runner.run("cat", workspace.root)).output == ""  # stdin is /dev/null


@sandboxed
async def test_command_runs_in_the_workspace(
    settings: Settings, workspace: Workspace, registry: ToolRegistry, ctx: ToolContext
) -> None:
    (workspace.root / "data.txt").write_text("from the workspace\n")
    output = await registry.get("execute_command")(ctx, {"command": "pwd; cat data.txt > copy"})
    assert json.loads(output)["output"] == "/workspace\n"
    assert (workspace.root / "copy").read_text() == "from the workspace\n"


# With and without the pids cgroup, whose clean-up would hide a leak of the pid-based kill.
cgroup_or_not = pytest.mark.parametrize("use_pids_cgroup", [True, False], ids=["cgroup", "pidfd"])


@sandboxed
@cgroup_or_not
async def test_timeout_kills_setsid_daemons_too(
    settings: Settings, workspace: Workspace, use_pids_cgroup: bool
) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    runner = SandboxedCommandRunner(settings, use_pids_cgroup=use_pids_cgroup)
    started = time.monotonic()
    result = await runner.run(f"{daemon(marker)}; sleep 30", workspace.root, timeout=1.5)
    assert result.timed_out and result.exit_code is None
    assert result.output == "up\n"
    assert time.monotonic() - started < 5
    assert processes_with(marker) == []


@sandboxed
@cgroup_or_not
async def test_daemons_die_when_the_command_exits(
    settings: Settings, workspace: Workspace, use_pids_cgroup: bool
) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    runner = SandboxedCommandRunner(settings, use_pids_cgroup=use_pids_cgroup)
    result = await runner.run(daemon(marker), workspace.root)
    assert (result.exit_code, result.output, result.timed_out) == (0, "up\n", False)
    assert processes_with(marker) == []


@sandboxed
@cgroup_or_not
@pytest.mark.parametrize("moment", ["starting", "running"])
async def test_cancellation_kills_the_whole_tree(
    settings: Settings, workspace: Workspace, use_pids_cgroup: bool, moment: str
) -> None:
    marker = f"marker-{uuid.uuid4().hex}"
    runner = SandboxedCommandRunner(settings, use_pids_cgroup=use_pids_cgroup)
    task = asyncio.create_task(runner.run(f"{daemon(marker)}; sleep 30", workspace.root))
    await wait_for_processes(marker)  # bwrap itself carries the marker in its argv
    if moment == "running":
        while not (workspace.root / "started").exists():
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert processes_with(marker) == []


@sandboxed
async def test_per_call_timeout_is_capped_by_settings(
    settings: Settings, workspace: Workspace
) -> None:
    strict = settings.model_copy(update={"command_timeout": 1.0})
    started = time.monotonic()
    result = await SandboxedCommandRunner(strict).run("sleep 30", workspace.root, timeout=600)
    assert result.timed_out and time.monotonic() - started < 4


@sandboxed
async def test_fork_bomb_is_bounded(settings: Settings, workspace: Workspace) -> None:
    if "NOT limited" in sandbox_status(settings).detail:
        pytest.skip("no process limit can be enforced here (root without a pids cgroup)")
    marker = f"bomb{uuid.uuid4().hex}"
    runner = SandboxedCommandRunner(settings, limits=ResourceLimits(processes=64))
    task = asyncio.create_task(
        runner.run(
            f"bomb() {{ bomb | bomb & }}; bomb; sleep 5 # {marker}", workspace.root, timeout=3
        )
    )
    peak = 0
    while not task.done():
        peak = max(peak, len(processes_with(marker)))
        await asyncio.sleep(0.02)
    result = await task
    assert peak <= 64
    assert result.duration_ms < 6000
    assert processes_with(marker) == []


@sandboxed
async def test_memory_and_file_size_are_limited(settings: Settings, workspace: Workspace) -> None:
    limits = ResourceLimits(address_space_bytes=512 * 1024**2, file_size_bytes=1024**2)
    runner = SandboxedCommandRunner(settings, limits=limits)
    memory = await runner.run("python3 -c 'x = bytearray(1024**3)' 2>&1", workspace.root)
    assert memory.exit_code == 1 and "MemoryError" in memory.output
    big = await runner.run("head -c 3000000 /dev/zero > big 2>&1", workspace.root)
    assert big.exit_code != 0
    assert (workspace.root / "big").stat().st_size <= 1024**2


@sandboxed
async def test_output_is_capped_and_says_truncated(
    settings: Settings, workspace: Workspace
) -> None:
    result = await SandboxedCommandRunner(settings).run("yes | head -c 1000000", workspace.root)
    assert result.exit_code == 0 and result.truncated
    assert result.output.startswith("y\ny\n")
    assert result.output.endswith(
        f"[output truncated: only the first {MAX_OUTPUT_BYTES} bytes are shown]"
    )
    assert len(result.output) < MAX_OUTPUT_BYTES + 100


@sandboxed
async def test_output_streams_to_the_callback_while_running(
    settings: Settings, workspace: Workspace, registry: ToolRegistry
) -> None:
    chunks: list[tuple[float, str]] = []

    async def on_output(text: str) -> None:
        chunks.append((time.monotonic(), text))

    ctx = ToolContext(user_id=1, workspace=workspace.root, settings=settings, on_output=on_output)
    command = "for i in 1 2 3; do echo line$i; sleep 0.2; done"
    output = json.loads(await registry.get("execute_command")(ctx, {"command": command}))
    finished = time.monotonic()
    assert "".join(text for _, text in chunks) == output["output"] == "line1\nline2\nline3\n"
    assert len(chunks) >= 2 and chunks[0][0] < finished - 0.3


async def test_missing_bubblewrap_refuses_with_instructions(
    settings: Settings, workspace: Workspace
) -> None:
    runner = SandboxedCommandRunner(settings, bwrap="/nonexistent/bwrap")
    with pytest.raises(SandboxUnavailable) as caught:
        await runner.run("true", workspace.root)
    assert "apt-get install bubblewrap" in caught.value.message
    assert "SANDBOX=none" in caught.value.message


async def test_bubblewrap_without_namespaces_refuses_with_the_reason(
    settings: Settings, workspace: Workspace, tmp_path: Path
) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in --help|--version) echo "bubblewrap 0.0-fake"; exit 0;; esac\n'
        'echo "bwrap: No permissions to create new namespace" >&2; exit 1\n'
    )
    fake.chmod(0o755)
    with pytest.raises(SandboxUnavailable) as caught:
        await SandboxedCommandRunner(settings, bwrap=str(fake)).run("true", workspace.root)
    assert "No permissions to create new namespace" in caught.value.message
    assert "apt-get install bubblewrap" in caught.value.message
    assert sandbox_status(settings, bwrap=str(fake)).level == "unavailable"


async def test_unsandboxed_mode_is_an_explicit_opt_in_with_cleared_env(
    settings: Settings, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_TEST_SECRET", "leaked")
    plain = settings.model_copy(update={"sandbox": SandboxMode.NONE})
    assert sandbox_status(plain).level == "none"
    assert "UNSANDBOXED" in sandbox_status(plain).detail
    result = await SandboxedCommandRunner(plain).run("pwd; env", workspace.root)
    assert result.output.startswith(f"{workspace.root}\n")
    assert "leaked" not in result.output
    slow = await SandboxedCommandRunner(plain).run("sleep 30", workspace.root, timeout=0.5)
    assert slow.timed_out


def test_sandbox_status_reports_isolation_and_is_cached(settings: Settings) -> None:
    status = sandbox_status(settings)
    assert status is sandbox_status(settings)
    if status.level == "bwrap":
        assert "no network" in status.detail and status.ok
    else:
        assert "apt-get install bubblewrap" in status.detail and not status.ok


@sandboxed
async def test_a_failing_output_listener_does_not_lose_the_result(
    settings: Settings, workspace: Workspace
) -> None:
    async def gone(text: str) -> None:
        raise ConnectionError("the browser tab was closed")

    result = await SandboxedCommandRunner(settings).run(
        "echo one; echo two", workspace.root, on_output=gone
    )
    assert (result.exit_code, result.output) == (0, "one\ntwo\n")
