"""CPU of one streamed model call on the client's side (`python -m bench.model_stream`).

`OllamaProvider.chat` against the scripted model (its own process, no delay between
tokens: about a dozen tokens a turn), with a system prompt and six tool schemas, as a
chat turn sends: the CPU this process spends per call, which in the server is the event
loop's. Each source tree (`--compare SRC ...`, `.` is this one) is measured in its own
process, the trees taking turns round after round, so that the machine's load falls on
each alike; the load average is printed with each row.

    python -m bench.model_stream [--calls 400] [--rounds 5] [--compare SRC ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.runs import scripted_model

SYSTEM = "You are a helpful assistant. Answer briefly and use the tools when they help. " * 20


async def measure(url: str, calls: int) -> float:
    """Microseconds of this process's CPU per streamed call (after a warm-up)."""
    from orchestrator.llm.base import ChatMessage
    from orchestrator.llm.ollama import OllamaProvider
    from orchestrator.tools.registry import ToolRegistry

    tools = ToolRegistry.from_entry_points().specs()[:6]
    messages = [
        ChatMessage(role="system", content=SYSTEM),
        ChatMessage(role="user", content="Hello there, how are you today?"),
    ]
    provider = OllamaProvider(url)

    async def call() -> None:
        async for _ in provider.chat("scripted", messages, tools):
            pass

    for _ in range(50):
        await call()
    started = time.process_time()
    for _ in range(calls):
        await call()
    spent = time.process_time() - started
    await provider.aclose()
    return spent / calls * 1e6


def run_tree(source: str, url: str, calls: int) -> float:
    """One measurement in a fresh process that imports `source`/src first."""
    src = Path(source, "src").resolve()
    if not src.is_dir():
        raise SystemExit(f"{src} is not a source tree")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), "."])}
    code = (
        "import asyncio, orchestrator; from bench.model_stream import measure; "
        f"assert orchestrator.__file__.startswith({str(src)!r}), orchestrator.__file__; "
        f"print(asyncio.run(measure({url!r}, {calls})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compare", nargs="+", metavar="SRC", default=["."])
    args = parser.parse_args()
    results: dict[str, list[float]] = {source: [] for source in args.compare}
    print(f"{'tree':40} {'round':>5} {'us/call':>9} {'load':>6}")
    with scripted_model() as model:
        for round_ in range(args.rounds):
            for source in args.compare:
                micros = run_tree(source, model.url, args.calls)
                results[source].append(micros)
                load = os.getloadavg()[0]
                print(f"{source:40} {round_ + 1:>5} {micros:>9.0f} {load:>6.1f}", flush=True)
    for source, values in results.items():
        print(f"{source:40} median {statistics.median(values):.0f} us/call")
    print(json.dumps({s: round(statistics.median(v)) for s, v in results.items()}))


if __name__ == "__main__":
    main()
