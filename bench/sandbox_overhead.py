"""Wall time of a command through the bubblewrap sandbox against a plain subprocess.

Median and p95 of N runs of `true` and `echo hi`, each way, and the ratio to plain:

    python bench/sandbox_overhead.py [--runs 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from orchestrator.core.config import SandboxMode, Settings
from orchestrator.tools.sandbox import SandboxedCommandRunner, sandbox_status

COMMANDS = ["true", "echo hi"]
Runner = Callable[[str], Awaitable[None]]


async def plain(command: str, workspace: Path) -> None:
    """The baseline: asyncio's subprocess, output captured, nothing else."""
    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        cwd=workspace,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    await process.communicate()


async def timed(run: Runner, command: str, runs: int) -> list[float]:
    for _ in range(3):  # warm up caches and the probe
        await run(command)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await run(command)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


async def measure(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp))
        workspace = Path(tmp) / "workspace"
        workspace.mkdir()
        status = sandbox_status(settings)
        print(f"sandbox: {status.level}: {status.detail}\n")
        unsandboxed = settings.model_copy(update={"sandbox": SandboxMode.NONE})
        ways: dict[str, Runner] = {"plain asyncio subprocess": lambda c: plain(c, workspace)}
        ways["runner, SANDBOX=none"] = _runner(SandboxedCommandRunner(unsandboxed), workspace)
        if status.level == "bwrap":
            ways["runner, bubblewrap"] = _runner(SandboxedCommandRunner(settings), workspace)
            no_cgroup = SandboxedCommandRunner(settings, use_pids_cgroup=False)
            ways["runner, bubblewrap, no cgroup"] = _runner(no_cgroup, workspace)
        print(f"{'command':<10} {'way':<32} {'median ms':>10} {'p95 ms':>8} {'x plain':>8}")
        for command in COMMANDS:
            baseline = 0.0
            for name, run in ways.items():
                samples = await timed(run, command, runs)
                median = statistics.median(samples)
                baseline = baseline or median
                print(
                    f"{command:<10} {name:<32} {median:>10.2f} {p95(samples):>8.2f} "
                    f"{median / baseline:>8.1f}"
                )


def _runner(runner: SandboxedCommandRunner, workspace: Path) -> Runner:
    async def run(command: str) -> None:
        result = await runner.run(command, workspace)
        assert result.exit_code == 0, result.output

    return run


def main() -> None:
    """Entry point for `python -m bench` and for running this file directly."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args, _ = parser.parse_known_args()
    asyncio.run(measure(args.runs))


if __name__ == "__main__":
    main()
