"""Agent-loop overhead: CPU per step of `ReactEngine` against a hand-written asyncio loop
(the floor), LangGraph's prebuilt ReAct agent and smolagents' ToolCallingAgent, all on an
instant fake model; wall time of 1,000 concurrent 10-turn runs with 50 ms model latency;
and first-token latency through the chat WebSocket of a real server.

    python -m bench.engine [--steps 2000] [--concurrent 1000] [--messages 50]
                           [--no-peers] [--no-ws] [--profile]

A step is one model turn that calls a tool plus that tool call. CPU is measured with
`time.process_time` (best of `--repeats` rounds, after a warm-up); "per run" is one
step plus the answering turn, "per extra step" is the marginal cost of a step in an
11-step run, (cpu(11) - cpu(1)) / 10, which leaves out per-run set-up. The peers run in
`bench/.venv-peers` (built by `bench/peers.sh`, kept out of the project's lock file), in a
subprocess that prints JSON; without it their rows are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from orchestrator.engine.events import ToolData
from orchestrator.engine.react import EngineEvent, Final, Limits, ReactEngine
from orchestrator.llm.base import (
    ChatMessage,
    Done,
    StreamChunk,
    TextDelta,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
)

TARGETS = {"engine_us_per_step": 50.0, "concurrent_s": 2.0}
HERE = Path(__file__).resolve().parent
PEERS_PYTHON = HERE / ".venv-peers" / "bin" / "python"
LONG_RUN = 11  # tool steps of the run that gives the marginal cost of a step
ADD_SPEC = ToolSpec(
    name="add",
    description="Add two integers.",
    parameters={
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
    },
)


async def add(a: int, b: int) -> str:
    """The trivial tool every contender calls."""
    return str(a + b)


# -- our engine, on an in-memory model and tool runner -----------------------------------


class InstantModel:
    """A `ModelClient` that calls `add` on its first `tool_turns` turns, then answers;
    the chunks are built once, so the model itself costs next to nothing."""

    def __init__(self, tool_turns: int, latency: float = 0.0) -> None:
        self.latency = latency
        usage = Done(finish_reason="stop", prompt_tokens=10, completion_tokens=5)
        calls = [
            ToolCall(id=f"c{i}", name="add", arguments={"a": i, "b": 1}) for i in range(tool_turns)
        ]
        self.turns: list[list[StreamChunk]] = [[ToolCallChunk(call=call), usage] for call in calls]
        self.turns.append([TextDelta(text="2"), usage])

    async def chat(
        self,
        model: str | None,
        messages: list[ChatMessage],
        tools: list[ToolSpec] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[StreamChunk]:
        if self.latency:
            await asyncio.sleep(self.latency)
        for chunk in self.turns[(len(messages) - 1) // 2]:  # user, then (assistant, tool)*
            yield chunk


class InstantTools:
    """A `ToolRunner` that awaits `add` and reports it finished (no gate, no database)."""

    async def run(self, call: ToolCall, key: str) -> AsyncIterator[ToolData]:
        result = await add(**call.arguments)
        yield ToolData(
            call_id=call.id, name=call.name, params=call.arguments, status="finished", result=result
        )


def engine_runner(tool_turns: int, latency: float = 0.0) -> Callable[[], Awaitable[Final]]:
    """One agent run through `ReactEngine`, consuming every event like a caller would."""
    engine = ReactEngine(InstantModel(tool_turns, latency), InstantTools())
    limits = Limits(max_iterations=tool_turns + 1)
    question = [ChatMessage(role="user", content="add 1 and 1")]

    async def run() -> Final:
        final: EngineEvent | None = None
        async for event in engine.run(question, model="instant", tools=[ADD_SPEC], limits=limits):
            final = event
        assert isinstance(final, Final) and final.stop_reason == "answer", final
        return final

    return run


# -- the floor: the same work written by hand ---------------------------------------------


def floor_runner(tool_turns: int, latency: float = 0.0) -> Callable[[], Awaitable[str]]:
    """The same loop with tuples and dicts: stream chunks, call the tool, append messages."""
    turns: list[list[tuple[str, Any]]] = [
        [("call", {"id": f"c{i}", "name": "add", "arguments": {"a": i, "b": 1}}), ("done", 15)]
        for i in range(tool_turns)
    ]
    turns.append([("text", "2"), ("done", 15)])

    async def chat(messages: list[dict[str, Any]]) -> AsyncIterator[tuple[str, Any]]:
        if latency:
            await asyncio.sleep(latency)
        for chunk in turns[(len(messages) - 1) // 2]:
            yield chunk

    async def run() -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": "add 1 and 1"}]
        while True:
            text: list[str] = []
            calls: list[dict[str, Any]] = []
            async for kind, value in chat(messages):
                if kind == "text":
                    text.append(value)
                elif kind == "call":
                    calls.append(value)
            if not calls:
                return "".join(text)
            messages.append({"role": "assistant", "content": "".join(text), "tool_calls": calls})
            for call in calls:
                result = await add(**call["arguments"])
                messages.append({"role": "tool", "content": result, "tool_call_id": call["id"]})

    return run


# -- measurements -------------------------------------------------------------------------


def cpu_per_run(run: Callable[[], Awaitable[object]], runs: int, repeats: int) -> float:
    """Smallest CPU seconds per awaited call over `repeats` rounds, after a warm-up."""

    async def main() -> float:
        for _ in range(min(runs, 200)):
            await run()
        best = float("inf")
        for _ in range(repeats):
            started = time.process_time()
            for _ in range(runs):
                await run()
            best = min(best, (time.process_time() - started) / runs)
        return best

    return asyncio.run(main())


def concurrent_wall(
    run: Callable[[], Awaitable[object]], count: int, *, gc_threshold: bool = False
) -> tuple[float, float]:
    """(wall seconds, CPU seconds) for `count` runs at once; `gc_threshold` runs them with
    the cyclic collector's first threshold raised from 700 to 50,000 allocations (with
    thousands of live runs, frequent collections, whose older generations walk every live
    object, take about a third of the CPU)."""

    async def main() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(run() for _ in range(count)))
        return time.perf_counter() - wall, time.process_time() - cpu

    saved = gc.get_threshold()
    if gc_threshold:
        gc.collect()
        gc.set_threshold(50_000, saved[1], saved[2])
    try:
        return asyncio.run(main())
    finally:
        gc.set_threshold(*saved)


def _peers_json(options: list[str], timeout: float) -> dict[str, Any] | str:
    """One JSON answer of `bench/_peers.py` in the peers' environment, or why there is none."""
    command = [str(PEERS_PYTHON), str(HERE / "_peers.py"), *options]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return f"did not finish within {timeout:.0f} s"
    except subprocess.CalledProcessError as exc:
        return f"failed:\n{exc.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_peers(args: argparse.Namespace) -> dict[str, Any] | None:
    """The peers' numbers from their own environment, or None (with the reason printed)."""
    if not PEERS_PYTHON.exists():
        print(f"   peers skipped: no {PEERS_PYTHON.relative_to(HERE.parent)} (run bench/peers.sh)")
        return None
    steps = str(max(20, args.steps // 10))  # the peers are ~100-1000x slower per step
    options = ["--steps", steps, "--repeats", str(args.repeats), "--tool-turns", "1", str(LONG_RUN)]
    result = _peers_json(options, timeout=120)
    if isinstance(result, str):
        print(f"   peers {result}")
        return None
    if args.peers_concurrent:
        concurrent = _peers_json(
            [
                "--tool-turns",
                "--concurrent",
                str(args.concurrent),
                "--concurrent-turns",
                str(args.turns),
                "--latency",
                str(args.latency),
            ],
            timeout=args.peers_timeout,
        )
        result["langgraph_concurrent"] = (
            concurrent["langgraph_concurrent"] if isinstance(concurrent, dict) else concurrent
        )
    return result


def profile_engine(steps: int, top: int = 18) -> str:
    """cProfile of `steps` engine runs, the functions with most own time first."""
    run = engine_runner(1)
    profiler = cProfile.Profile()

    async def main() -> None:
        for _ in range(200):
            await run()
        profiler.enable()
        for _ in range(steps):
            await run()
        profiler.disable()

    asyncio.run(main())
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def ws_first_token(count: int) -> tuple[list[float], list[float]]:
    """(first-token ms, whole-answer ms) of `count` chat messages over the WebSocket of a
    real server whose model is the scripted Ollama-protocol server on loopback."""
    import httpx
    from tests.support.scripted_model import Reply, ScriptedModelServer
    from tests.support.server import serve_in_thread
    from tests.support.tools import sample_tools
    from tests.support.ws import open_socket

    from orchestrator.app import create_app
    from orchestrator.core.config import Settings
    from orchestrator.db.migrate import upgrade
    from orchestrator.llm.gateway import ModelGateway
    from orchestrator.llm.ollama import OllamaProvider

    def reply(body: dict[str, Any]) -> Reply:
        return Reply(text="Hello from the bench model, streamed word by word.")

    first: list[float] = []
    whole: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, ScriptedModelServer(default=reply) as model:
        settings = Settings(
            _env_file=None,
            data_dir=Path(tmp),
            secret_key="bench-secret-key-that-is-long-enough-0123456789",
            registration="open",
            ollama_url=model.url,
            redis_url=None,  # the in-process bus and executor, whatever the environment says
        )
        upgrade(settings)
        gateway = ModelGateway(settings, providers=[OllamaProvider(model.url)])
        app = create_app(settings, models=gateway, tools=sample_tools())
        with serve_in_thread(app) as url, httpx.Client(base_url=f"{url}/api/v1") as http:
            credentials = {"username": "bench", "password": "password-1"}
            http.post("/auth/register", json=credentials).raise_for_status()
            token = http.post("/auth/login", json=credentials).json()["access_token"]
            with open_socket(url, "/chat/ws", token=token) as ws:
                for i in range(count + 5):  # the first five warm up
                    started = time.perf_counter()
                    ws.send(json.dumps({"message": f"hello {i}"}))
                    got_first = None
                    while True:
                        event = json.loads(ws.recv(timeout=30))
                        if event["type"] == "token" and got_first is None:
                            got_first = time.perf_counter()
                        elif event["type"] == "error" and event.get("seq") is None:
                            raise RuntimeError(event["data"])
                        elif event["type"] == "complete":
                            break
                    assert got_first is not None, "the answer streamed no token"
                    if i >= 5:
                        first.append((got_first - started) * 1000)
                        whole.append((time.perf_counter() - started) * 1000)
    return first, whole


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# -- report ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=2000, help="steps timed per round (ours)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--turns", type=int, default=10, help="model turns per concurrent run")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per model turn")
    parser.add_argument("--messages", type=int, default=50, help="WebSocket chat messages")
    parser.add_argument("--no-peers", dest="peers", action="store_false")
    parser.add_argument(
        "--no-peers-concurrent",
        dest="peers_concurrent",
        action="store_false",
        help="skip LangGraph's concurrent run (~40 s)",
    )
    parser.add_argument("--peers-timeout", type=float, default=60.0, help="for LangGraph's")
    parser.add_argument("--no-ws", dest="ws", action="store_false")
    parser.add_argument("--profile", action="store_true", help="profile the engine regardless")
    args = parser.parse_args(argv if argv is not None else [])

    ours: dict[str, float] = {}
    floor: dict[str, float] = {}
    for turns in (1, LONG_RUN):
        runs = max(50, args.steps // turns)
        ours[f"{turns}"] = cpu_per_run(engine_runner(turns), runs, args.repeats)
        floor[f"{turns}"] = cpu_per_run(floor_runner(turns), runs, args.repeats)
    peers = run_peers(args) if args.peers else None

    def rows() -> list[tuple[str, float, float]]:
        table = [
            ("plain asyncio loop (floor)", floor["1"], floor[str(LONG_RUN)]),
            ("ReactEngine", ours["1"], ours[str(LONG_RUN)]),
        ]
        if peers:
            for name, label, key in (
                ("langgraph", "LangGraph create_react_agent .invoke", "invoke"),
                ("langgraph", "LangGraph create_react_agent .ainvoke", "ainvoke"),
                ("smolagents", "smolagents ToolCallingAgent .run", "run"),
            ):
                table.append((label, peers[f"{name}/1"][key], peers[f"{name}/{LONG_RUN}"][key]))
        return table

    def marginal(one: float, long: float) -> float:
        return (long - one) / (LONG_RUN - 1)

    floor_run, floor_step = floor["1"], marginal(floor["1"], floor[str(LONG_RUN)])
    print("CPU per agent step (instant fake model, no I/O)")
    print(f"{'contender':<40}{'µs/run':>11}{'x floor':>9}{'µs/extra step':>15}{'x floor':>9}")
    for label, one, long in rows():
        step = marginal(one, long)
        print(
            f"{label:<40}{one * 1e6:>11.1f}{one / floor_run:>9.0f}"
            f"{step * 1e6:>15.1f}{step / floor_step:>9.0f}"
        )
    engine_step = marginal(ours["1"], ours[str(LONG_RUN)])
    print(
        f"   a run = 1 tool step + the answering turn; target for ReactEngine "
        f"< {TARGETS['engine_us_per_step']:.0f} µs/step: per run {ours['1'] * 1e6:.1f} µs, "
        f"per extra step {engine_step * 1e6:.1f} µs"
    )
    if peers and "versions" in peers:
        versions = ", ".join(f"{k} {v}" for k, v in peers["versions"].items())
        print(f"   peers: {versions} (Python {peers['python']})")

    print()
    print(
        f"{args.concurrent} concurrent runs x {args.turns} model turns, "
        f"{args.latency * 1000:.0f} ms model latency per turn"
    )
    print(f"{'contender':<40}{'wall s':>9}{'CPU s':>9}")
    for label, factory, tuned in (
        ("plain asyncio loop (floor)", floor_runner, False),
        ("ReactEngine", engine_runner, False),
        ("ReactEngine, gc gen0 threshold 50,000", engine_runner, True),
    ):
        wall, cpu = concurrent_wall(
            factory(args.turns - 1, args.latency), args.concurrent, gc_threshold=tuned
        )
        print(f"{label:<40}{wall:>9.2f}{cpu:>9.2f}")
    if peers and "langgraph_concurrent" in peers:
        label = "LangGraph create_react_agent .ainvoke"
        if isinstance(peers["langgraph_concurrent"], str):
            print(f"{label:<40} {peers['langgraph_concurrent']}")
        else:
            wall, cpu = peers["langgraph_concurrent"]
            print(f"{label:<40}{wall:>9.2f}{cpu:>9.2f}")
    print(f"   target for ReactEngine < {TARGETS['concurrent_s']:.0f} s")

    if args.ws:
        first, whole = ws_first_token(args.messages)
        print()
        print(f"WebSocket chat, {len(first)} messages one after another (server in a thread)")
        print(f"{'':<40}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for label, values in (("send -> first token", first), ("send -> complete", whole)):
            print(
                f"{label:<40}{statistics.median(values):>9.2f}"
                f"{percentile(values, 0.99):>9.2f}{max(values):>9.2f}"
            )

    if args.profile or engine_step * 1e6 > TARGETS["engine_us_per_step"]:
        print()
        print("cProfile of ReactEngine (1-step runs), by own time:")
        print(profile_engine(args.steps))


if __name__ == "__main__":
    main(sys.argv[1:])
