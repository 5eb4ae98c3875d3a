"""What usage accounting, metrics and tracing cost, against the same build with all three
off (`USAGE_ACCOUNTING=false METRICS=false TRACING=false`), side by side:

- runs: CPU per run of the whole run pipeline (`RunService` -> processor -> agent turn ->
  `ReactEngine` -> tools, events to SQLite) on an instant in-process model, each run three
  tool steps and an answer (four model calls: four `usage` events and rows when on). With
  tracing on, spans go to a batch processor and an in-memory exporter (OTLP without the
  network).
- api: server CPU per request (`psutil` on the `orchestrator serve` process) and client
  p50 latency of GET /api/v1/auth/me, on vs off (the request-id, access-log and metrics
  middleware).

CPU time rather than wall time: this machine is shared, and CPU seconds are what the
switches add. The two run pipelines live in one process and take turns, batch by batch,
and the figure is the median of the paired ratios, so that load and background work (the
pollers of both runtimes) hit both alike; API rounds alternate on/off.

    python -m bench.observability_overhead [--pairs 20] [--runs 10] [--rounds 3]
                                           [--requests 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psutil
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.support.server import free_port

from bench.api_latency import start_server
from orchestrator.core.config import Settings
from orchestrator.db.migrate import upgrade
from orchestrator.db.models import User
from orchestrator.llm.base import (
    ChatMessage,
    Done,
    ModelInfo,
    ProviderHealth,
    StreamChunk,
    TextDelta,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
)
from orchestrator.llm.gateway import ModelGateway
from orchestrator.observability import RequestObservation, Tracing
from orchestrator.runtime import Runtime
from orchestrator.tools.registry import ToolRegistry

TARGET_RATIO = 1.10
STEPS = 3
OFF = {"usage_accounting": False, "metrics": False, "tracing": False}


class InstantModel:
    """A provider that answers at once: `STEPS` calls of `calculate`, then an answer."""

    name = "instant"

    async def chat(
        self,
        model: str,
        messages: list[ChatMessage],
        tools: list[ToolSpec] | None = None,
        **_: Any,
    ) -> AsyncIterator[StreamChunk]:
        done = sum(1 for m in messages if m.role == "tool")
        if done < STEPS and tools:
            # A new expression each step: the engine refuses a third identical call.
            expression = f"6*{7 + done}"
            yield ToolCallChunk(
                call=ToolCall(id=f"c{done}", name="calculate", arguments={"expression": expression})
            )
        else:
            for word in ("The", " answer", " is", " 42."):
                yield TextDelta(text=word)
        yield Done(finish_reason="stop", prompt_tokens=40 + 10 * done, completion_tokens=12)

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(name="instant", provider="instant", capabilities=["completion", "tools"])]

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        return [[0.0] * 8 for _ in texts]

    async def health(self) -> ProviderHealth:
        return ProviderHealth(provider="instant", ok=True)


def _settings(data_dir: Path, on: bool) -> Settings:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data_dir,
        secret_key="bench-secret-key-that-is-long-enough-0123456789",
        default_model="instant",
        memory_recall=False,
        sandbox="none",
        **({} if on else OFF),
    )
    upgrade(settings)
    return settings


class Pipeline:
    """A started runtime on its own data dir, running runs one after another."""

    def __init__(self, settings: Settings, on: bool) -> None:
        tracing = None
        if on:
            provider = TracerProvider()
            provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
            tracing = Tracing(provider)
        models = ModelGateway(settings, providers=[InstantModel()], cache_seconds=3600)
        tools = ToolRegistry([t for t in ToolRegistry.from_entry_points() if t.name == "calculate"])
        self.runtime = Runtime.create(
            settings, models=models, tools=tools, execute_here=True, tracing=tracing
        )
        self.name = "on" if on else "off"
        self.user_id = 0

    async def start(self) -> None:
        await self.runtime.start()
        async with self.runtime.sessions() as db:
            user = User(username=f"bench-{self.name}", password_hash="x", role="admin")
            db.add(user)
            await db.commit()
            self.user_id = user.id
        await self.batch(3)  # warm up

    async def batch(self, runs: int) -> float:
        """CPU seconds per run (the whole process's: background work counts) of `runs` runs."""
        started = time.process_time()
        for _ in range(runs):
            run = await self.runtime.runs.start_run(self.user_id, "what is 6*7?", agent="assistant")
            await self.runtime.runs.join(run.id)
        spent = (time.process_time() - started) / runs
        last = await self.runtime.runs.get(self.user_id, run.id)
        assert last.status == "succeeded", (last.status, last.error)
        return spent

    async def close(self) -> None:
        await self.runtime.close()


async def _runs_cpu(
    off: Settings, on: Settings, pairs: int, runs: int
) -> list[tuple[float, float]]:
    """(off, on) CPU seconds per run for `pairs` pairs of batches of `runs` runs, the two
    runtimes live side by side in one process and taking turns (which goes first
    alternates), so that load and background work hit both alike."""
    pipelines = {False: Pipeline(off, False), True: Pipeline(on, True)}
    for pipeline in pipelines.values():
        await pipeline.start()
    try:
        results: list[tuple[float, float]] = []
        for pair in range(pairs):
            spent: dict[bool, float] = {}
            for first in (pair % 2 == 0, pair % 2 != 0):
                spent[first] = await pipelines[first].batch(runs)
            results.append((spent[False], spent[True]))
        return results
    finally:
        for pipeline in pipelines.values():
            await pipeline.close()


def _api(on: bool, requests: int) -> tuple[float, float]:
    """(server CPU ms per request, client p50 ms) for GET /auth/me."""
    port = free_port()
    env = {} if on else {"METRICS": "false", "TRACING": "false", "USAGE_ACCOUNTING": "false"}
    with tempfile.TemporaryDirectory() as data_dir:
        proc = start_server(Path(data_dir), port, **env)
        try:
            base = f"http://127.0.0.1:{port}/api/v1"
            user = {"username": "bench", "password": "password-1"}
            httpx.post(f"{base}/auth/register", json=user)
            token = httpx.post(f"{base}/auth/login", json=user).json()["access_token"]
            server = psutil.Process(proc.pid)
            latencies: list[float] = []
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
                for _ in range(50):
                    client.get(f"{base}/auth/me").raise_for_status()
                before = server.cpu_times()
                for _ in range(requests):
                    t0 = time.perf_counter()
                    client.get(f"{base}/auth/me").raise_for_status()
                    latencies.append((time.perf_counter() - t0) * 1000)
                after = server.cpu_times()
            cpu = (after.user + after.system - before.user - before.system) / requests * 1000
            return cpu, statistics.median(latencies)
        finally:
            proc.terminate()
            proc.wait(timeout=15)


async def _middleware_us(metrics: bool, requests: int = 20_000) -> float:
    """CPU microseconds per request of the request-id/access-log/metrics middleware alone,
    around an app that answers at once (what every request pays, without the noise of a
    whole server on a shared machine)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    layer = RequestObservation(app, metrics=metrics) if metrics is not None else app
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/auth/me",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer x")],
        "route": object(),
        "path_params": {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    for _ in range(500):
        await layer(dict(scope), receive, send)
    started = time.process_time()
    for _ in range(requests):
        await layer(dict(scope), receive, send)
    return (time.process_time() - started) / requests * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10, help="runs per batch")
    parser.add_argument("--pairs", type=int, default=20, help="pairs of batches (off, on)")
    parser.add_argument("--rounds", type=int, default=3, help="API rounds per setting")
    parser.add_argument("--requests", type=int, default=1500, help="API requests per round")
    args = parser.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory() as off_dir, tempfile.TemporaryDirectory() as on_dir:
        settings = (_settings(Path(off_dir), False), _settings(Path(on_dir), True))
        pairs = asyncio.run(_runs_cpu(*settings, args.pairs, args.runs))
    print(f"runs: {args.pairs} pairs of {args.runs} runs done", flush=True)
    api_cpu: dict[bool, list[float]] = {True: [], False: []}
    api_p50: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(args.rounds):
        for on in (round_ % 2 == 0, round_ % 2 != 0):  # alternate which goes first
            server_ms, p50 = _api(on, args.requests)
            api_cpu[on].append(server_ms)
            api_p50[on].append(p50)
            print(f"API round {round_ + 1}/{args.rounds} {'on ' if on else 'off'} done", flush=True)

    def best(values: list[float]) -> float:
        return min(values)  # the least disturbed round

    logging.getLogger("orchestrator.access").addHandler(logging.NullHandler())
    logging.getLogger().setLevel(logging.INFO)  # the access line is formatted as in serve
    mw_off = min(asyncio.run(_middleware_us(False)) for _ in range(3))
    mw_on = min(asyncio.run(_middleware_us(True)) for _ in range(3))
    added_ms = (mw_on - mw_off) / 1000

    ratios = sorted(on / off for off, on in pairs)
    off_ms = statistics.median(off for off, _ in pairs) * 1000
    on_ms = statistics.median(on for _, on in pairs) * 1000
    print(
        f"run pipeline: median of {len(ratios)} paired ratios x{statistics.median(ratios):.3f} "
        f"(quartiles x{ratios[len(ratios) // 4]:.3f} - x{ratios[(3 * len(ratios)) // 4]:.3f})"
    )
    rows = [("run pipeline, CPU ms per run (median)", off_ms, on_ms)]
    if args.rounds:
        rows += [
            ("API /auth/me, server CPU ms/request", best(api_cpu[False]), best(api_cpu[True])),
            ("API /auth/me, client p50 ms", best(api_p50[False]), best(api_p50[True])),
            (
                "API /auth/me, CPU ms + metrics middleware",
                best(api_cpu[False]),
                best(api_cpu[False]) + added_ms,
            ),
        ]
    print(f"middleware alone: {mw_off:.1f} us/request metrics off, {mw_on:.1f} us on")
    print(f"{'measure':<40}{'all off':>10}{'all on':>10}{'ratio':>8}")
    for name, off, on_ in rows:
        ratio = on_ / off if off else float("nan")
        flag = "" if ratio <= TARGET_RATIO else "  (over 10%)"
        print(f"{name:<40}{off:>10.3f}{on_:>10.3f}{ratio:>8.3f}{flag}")


if __name__ == "__main__":
    main(sys.argv[1:])
