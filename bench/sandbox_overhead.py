"""Wall time of a command through the bubblewrap sandbox against a plain subprocess,
and what each protection costs: the seccomp filter and the memory cgroup against the
sandbox as it was before them (bubblewrap and the pids cgroup alone).

Median and p95 of N runs of `true` and `echo hi`, each way, the ways interleaved run by
run (so a busy machine slows them alike), and the ratio to the first way:

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


async def interleaved(ways: dict[str, Runner], command: str, runs: int) -> dict[str, list[float]]:
    """`runs` timings of each way, taking turns."""
    for run in ways.values():  # warm up caches and the probe
        await run(command)
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(runs):
        for name, run in ways.items():
            started = time.perf_counter()
            await run(command)
            samples[name].append((time.perf_counter() - started) * 1000)
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
            for name, options in (
                (
                    "bwrap as before (pids cgroup)",
                    {"use_seccomp": False, "use_memory_cgroup": False},
                ),
                ("bwrap + seccomp", {"use_memory_cgroup": False}),
                ("bwrap + memory cgroup", {"use_seccomp": False}),
                ("bwrap + both (the default)", {}),
                ("bwrap, no cgroup at all", {"use_pids_cgroup": False, "use_memory_cgroup": False}),
            ):
                ways[name] = _runner(SandboxedCommandRunner(settings, **options), workspace)
        for way in (status.seccomp, status.memory_limit):
            print(f"  {'on' if way.on else 'off'}: {way.detail}")
        print(f"\n{'command':<10} {'way':<32} {'median ms':>10} {'p95 ms':>8} {'x first':>8}")
        for command in COMMANDS:
            samples = await interleaved(ways, command, runs)
            baseline = 0.0
            for name, taken in samples.items():
                median = statistics.median(taken)
                baseline = baseline or median
                print(
                    f"{command:<10} {name:<32} {median:>10.2f} {p95(taken):>8.2f} "
                    f"{median / baseline:>8.2f}"
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
