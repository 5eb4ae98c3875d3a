"""The cost of recording a tool call's workspace changes, against the plain call.

For workspaces of 100, 1,000 and 10,000 small files: a `write_file` call alone, the
same call with its exact-path capture (file tools), and with the whole-workspace
comparison that commands get (a stat walk before and after; content is hashed only for
files whose stat changed, so the first capture of a workspace is the only full read).
Median and p95 in ms, and the overhead over the plain call:

    python -m bench workspace_changes [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench._trees import SIZES, populate
from orchestrator.changes import Snapshots, differences
from orchestrator.core.config import Settings
from orchestrator.tools.base import ToolContext
from orchestrator.tools.builtin.files import write_file
from orchestrator.tools.workspace import Workspace


async def _plain(ctx: ToolContext, n: int) -> None:
    await write_file(ctx, {"path": "out/result.txt", "content": f"run {n}\n"})


async def _recorded(ctx: ToolContext, snapshots: Snapshots, n: int, exact: bool) -> None:
    paths = ["out/result.txt"] if exact else None
    before = await asyncio.to_thread(snapshots.capture, ctx.workspace, paths)
    await _plain(ctx, n)
    after = await asyncio.to_thread(snapshots.capture, ctx.workspace, paths)
    assert differences(before, after)


async def _timed(run, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    for n in range(3):
        await run(-n - 1)
    samples = []
    for n in range(runs):
        started = time.perf_counter()
        await run(n)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def measure(runs: int) -> None:
    print(f"{'files':>7} {'way':<34} {'median ms':>10} {'p95 ms':>8} {'overhead ms':>12}")
    for size in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(_env_file=None, data_dir=Path(tmp))
            root = Workspace.for_user(settings, 1).root
            populate(root, size)
            ctx = ToolContext(user_id=1, workspace=root, settings=settings)
            snapshots = Snapshots(Path(tmp), settings.change_max_file_bytes)
            started = time.perf_counter()
            snapshots.capture(root)
            first = (time.perf_counter() - started) * 1000
            base = statistics.median(await _timed(lambda n, c=ctx: _plain(c, n), runs))
            print(f"{size:>7} {'plain write_file':<34} {base:>10.2f} {'':>8} {'':>12}")
            for name, exact in (
                ("exact paths (file tools)", True),
                ("whole workspace (commands)", False),
            ):
                samples = await _timed(
                    lambda n, c=ctx, s=snapshots, e=exact: _recorded(c, s, n, e), runs
                )
                median = statistics.median(samples)
                p95 = statistics.quantiles(samples, n=20)[-1]
                print(f"{size:>7} {name:<34} {median:>10.2f} {p95:>8.2f} {median - base:>12.2f}")
            print(f"{size:>7} {'first capture (reads every file)':<34} {first:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    asyncio.run(measure(parser.parse_args().runs))


if __name__ == "__main__":
    main()
