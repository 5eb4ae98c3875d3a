"""Run every benchmark in turn (`python -m bench [name ...]`)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["api_latency", "engine", "sandbox_overhead", "events"]


def main() -> None:
    names = sys.argv[1:] or BENCHMARKS
    for name in names:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            print(f"== {name}: not available ({exc})")
            continue
        print(f"== {name}")
        module.main()


if __name__ == "__main__":
    main()
