"""Run every benchmark in turn (`python -m bench [name ...]`)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "api_latency",
    "api_floor",
    "startup",
    "engine",
    "events",
    "runs",
    "model_stream",
    "sandbox_overhead",
    "memory",
    "knowledge",
    "scale",
    "openai_api",
    "mcp_overhead",
    "workspace_changes",
    "workspace_quota",
    "observability_overhead",
]


def main() -> None:
    names = sys.argv[1:] or BENCHMARKS
    sys.argv = sys.argv[:1]  # each benchmark parses its own options: give it none
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
