"""The cost of checking WORKSPACE_QUOTA_MB on a write: the shared count (a user's
workspace) against a walk of the whole tree on every write (the baseline, what any
directory without a count still gets), side by side on identical trees.

For workspaces of 100, 1,000 and 10,000 small files, a `write_file` call of a small file
through each; the two ways alternate call by call so that load hits both alike. Median
and p95 in ms, and the walk's median over the count's:

    python -m bench workspace_quota [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench._trees import SIZES, populate
from orchestrator.core.config import Settings
from orchestrator.tools.base import ToolContext
from orchestrator.tools.builtin.files import write_file
from orchestrator.tools.workspace import Workspace


async def _write(ctx: ToolContext, n: int) -> float:
    started = time.perf_counter()
    await write_file(ctx, {"path": f"out/result{n % 10}.txt", "content": f"run {n}\n"})
    return (time.perf_counter() - started) * 1000


async def measure(runs: int) -> None:
    print(f"{'files':>7} {'way':<28} {'median ms':>10} {'p95 ms':>8} {'walk / count':>13}")
    for size in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(_env_file=None, data_dir=Path(tmp))
            counted = Workspace.for_user(settings, 1)
            assert counted.ledger is not None
            walked = Path(tmp) / "elsewhere" / "1"  # not under WORKSPACES_DIR: walked
            walked.mkdir(parents=True)
            for root in (counted.root, walked):
                populate(root, size)
            contexts = {
                "shared count": ToolContext(user_id=1, workspace=counted.root, settings=settings),
                "walk on every write": ToolContext(user_id=1, workspace=walked, settings=settings),
            }
            samples: dict[str, list[float]] = {name: [] for name in contexts}
            for n in range(-3, runs):  # three warm-up calls each, not kept
                for name, ctx in contexts.items():
                    took = await _write(ctx, n)
                    if n >= 0:
                        samples[name].append(took)
            medians = {name: statistics.median(s) for name, s in samples.items()}
            for name, taken in samples.items():
                p95 = statistics.quantiles(taken, n=20)[-1]
                ratio = (
                    f"{medians['walk on every write'] / medians[name]:>12.1f}x"
                    if name == "shared count"
                    else ""
                )
                print(f"{size:>7} {name:<28} {medians[name]:>10.2f} {p95:>8.2f} {ratio:>13}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    asyncio.run(measure(parser.parse_args().runs))


if __name__ == "__main__":
    main()
