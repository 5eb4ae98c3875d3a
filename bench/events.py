"""The run event log under load, on SQLite and (when reachable) Postgres: events per
second written by `RunWriter` (token deltas, which batch; durable events, which flush
one by one), durable events/s of 1, 10 and 100 runs at once with one transaction per
flush and with group commit side by side, events streamed to N followers
(`RunEventLog.follow`) with p50/p99 latency from emit to receipt, and the time from a
restart to a resumed run's first new event.

    python -m bench.events [--tokens 20000] [--durable 1000] [--runs 1 10 100]
                           [--concurrent-total 3000] [--followers 1 10 100]
                           [--stream 1000] [--resumes 5] [--postgres URL | --no-postgres]

Postgres: a temporary database is created on the server of `--postgres` (default
postgresql+asyncpg://root@127.0.0.1:5432/test) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestrator.core.config import Settings
from orchestrator.db.migrate import upgrade
from orchestrator.db.models import Run, RunEvent, User, utcnow
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.engine.events import (
    CompleteData,
    CompleteEvent,
    PhaseData,
    StatusData,
    TokenData,
    ToolData,
)
from orchestrator.runs.bus import EventBus
from orchestrator.runs.log import RunChanges, RunEventLog, RunWriter
from orchestrator.runs.workflow import Checkpoint, Spec, Step

POSTGRES_URL = "postgresql+asyncpg://root@127.0.0.1:5432/test"
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
DURABLE_EVERY = 50  # in the follower stream, one tool event per this many tokens


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def settings_for(data_dir: Path, database_url: str | None = None, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        secret_key=SECRET,
        redis_url=None,  # the in-process bus and executor, whatever the environment says
        **extra,
    )


@contextmanager
def postgres_database(server_url: str) -> Iterator[str | None]:
    """A fresh migrated database on `server_url`'s server (its URL), or None if unreachable."""
    dsn = server_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"bench_events_{uuid.uuid4().hex[:8]}"

    async def execute(statement: str) -> None:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    try:
        asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"   Postgres skipped: {server_url} not reachable ({exc.__class__.__name__})")
        yield None
        return
    url = server_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            upgrade(settings_for(Path(tmp), url))
        yield url
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    user_id: int

    async def new_run(self, **values: Any) -> str:
        """A run row; by default a finished one, which no executor's sweep would pick up."""
        async with self.sessions() as db:
            run = Run(user_id=self.user_id, goal="bench", **{"status": "succeeded", **values})
            db.add(run)
            await db.commit()
            return str(run.id)


async def open_database(settings: Settings) -> Database:
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    async with sessions() as db:
        user = User(username=f"bench-{uuid.uuid4().hex[:8]}", password_hash="-")
        db.add(user)
        await db.commit()
        return Database(engine, sessions, user.id)


# -- writes ------------------------------------------------------------------------------


async def write_tokens(database: Database, count: int) -> tuple[float, float]:
    """(events/s until every delta is written, events/s of `emit` alone)."""
    log = RunEventLog(database.sessions, EventBus())
    writer = await log.open(await database.new_run())
    started = time.perf_counter()
    for i in range(count):
        await writer.emit(TokenData(text=f" tok{i}"))
    emitted = time.perf_counter() - started
    await writer.close()
    return count / (time.perf_counter() - started), count / emitted


async def write_durable(database: Database, count: int) -> float:
    """Events/s of tool events, each written before `emit` returns."""
    log = RunEventLog(database.sessions, EventBus())
    writer = await log.open(await database.new_run())
    started = time.perf_counter()
    for i in range(count):
        await writer.emit(
            ToolData(
                call_id=f"c{i}",
                name="add",
                params={"a": i, "b": 1},
                status="finished",
                result=str(i + 1),
                duration_ms=0.1,
            )
        )
    await writer.close()
    return count / (time.perf_counter() - started)


async def write_concurrent(
    database: Database, runs: int, total: int, grouped: bool
) -> tuple[float, float, float]:
    """(durable events/s, events per transaction, CPU µs per event) of `runs` runs at once,
    each emitting tool events one after another (`total` in all), with group commit or
    without. The CPU is the whole process's (every thread), which a busy machine changes
    less than the rate."""
    log = RunEventLog(database.sessions, EventBus(), group_commit=grouped)
    writers = [await log.open(await database.new_run()) for _ in range(runs)]
    per_run = max(1, total // runs)

    async def one(writer: RunWriter) -> None:
        for i in range(per_run):
            await writer.emit(
                ToolData(call_id=f"c{i}", name="add", status="finished", result=str(i))
            )

    before = log.committer.transactions
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(w) for w in writers))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    for writer in writers:
        await writer.close()
    transactions = log.committer.transactions - before
    events = runs * per_run
    return events / elapsed, events / max(1, transactions), cpu / events * 1e6


# -- followers ---------------------------------------------------------------------------


@dataclass
class StreamResult:
    followers: int
    events_per_s: float
    cpu_us_per_delivery: float  # the whole process's CPU per event received by a follower
    token_ms: list[float]
    durable_ms: list[float]


async def stream(database: Database, followers: int, count: int) -> StreamResult:
    """Emit `count` events (tokens, a tool event every `DURABLE_EVERY`) to `followers`
    live followers, yielding to the loop after each emit as a model stream would."""
    log = RunEventLog(database.sessions, EventBus())
    run_id = await database.new_run()
    writer = await log.open(run_id)
    received: list[list[tuple[int, float]]] = [[] for _ in range(followers)]
    ready = asyncio.Semaphore(0)

    async def follow(into: list[tuple[int, float]]) -> None:
        async for event in log.follow(run_id):
            into.append((event.seq, time.perf_counter()))
            if event.seq == 1:
                ready.release()

    tasks = [asyncio.create_task(follow(into)) for into in received]
    await writer.emit(StatusData(status="running"))  # every follower has seen it: all live
    for _ in range(followers):
        await ready.acquire()
    sent: dict[int, float] = {}
    kinds: dict[int, str] = {}
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        at = time.perf_counter()
        if i % DURABLE_EVERY == DURABLE_EVERY - 1:
            event = await writer.emit(
                ToolData(call_id=f"c{i}", name="add", status="finished", result="2")
            )
        else:
            event = await writer.emit(TokenData(text=f" tok{i}"))
        sent[event.seq], kinds[event.seq] = at, event.type
        await asyncio.sleep(0)
    await writer.emit(
        CompleteData(status="succeeded", content="", run_id=run_id), RunChanges(status="succeeded")
    )
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await writer.close()
    token_ms: list[float] = []
    durable_ms: list[float] = []
    for into in received:
        seqs = [seq for seq, _ in into]
        assert seqs == list(range(1, count + 3)), "a follower saw a gap or a repeat"
        for seq, at in into:
            if seq in sent:
                (token_ms if kinds[seq] == "token" else durable_ms).append((at - sent[seq]) * 1000)
    return StreamResult(
        followers, count / elapsed, cpu / (count * followers) * 1e6, token_ms, durable_ms
    )


async def queue_floor(followers: int, count: int) -> float:
    """CPU µs per delivery of the same fan-out with one plain `asyncio.Queue` per follower
    and no log: the floor for `CPU µs/recv`."""
    queues: list[asyncio.Queue[int]] = [asyncio.Queue() for _ in range(followers)]

    async def follow(queue: asyncio.Queue[int]) -> None:
        for _ in range(count):
            await queue.get()

    tasks = [asyncio.create_task(follow(queue)) for queue in queues]
    await asyncio.sleep(0)
    cpu = time.process_time()
    for i in range(count):
        for queue in queues:
            queue.put_nowait(i)
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    return (time.process_time() - cpu) / (count * followers) * 1e6


# -- restart -----------------------------------------------------------------------------


def instant_reply(body: dict[str, Any]) -> Any:
    """The scripted model: a passing verdict when asked for JSON, else a short answer."""
    from tests.support.scripted_model import Reply

    if body.get("format"):
        verdict = {
            "passed": True,
            "criteria": [{"criterion": "it resumes", "met": True, "quote": "done"}],
            "failed_steps": [],
            "notes": "ok",
        }
        return Reply(text=json.dumps(verdict))
    return Reply(text="done")


async def crashed_run(database: Database) -> tuple[str, int]:
    """A workflow run as a killed process leaves it: running, its lease expired, a
    checkpoint after PLAN, and some events. Returns (run id, its last seq)."""
    checkpoint = Checkpoint(
        spec=Spec(goal="bench a restart", acceptance_criteria=["it resumes"]),
        steps=[Step(title="Only", instruction="say done")],
    )
    run_id = await database.new_run(
        kind="workflow",
        status="running",
        phase="execute",
        checkpoint=checkpoint.model_dump(mode="json"),
        lease_owner="crashed-host:1:deadbeef",
        lease_expires_at=utcnow() - timedelta(minutes=1),
        started_at=utcnow() - timedelta(minutes=2),
        last_seq=5,
    )
    events = [
        StatusData(status="running"),
        PhaseData(phase="spec", status="started"),
        PhaseData(phase="spec", status="finished"),
        PhaseData(phase="plan", status="started"),
        PhaseData(phase="plan", status="finished"),
    ]
    async with database.sessions() as db:
        db.add_all(
            RunEvent(run_id=run_id, seq=i, type=e.type, data=e.model_dump(mode="json"))
            for i, e in enumerate(events, 1)
        )
        await db.commit()
    return run_id, len(events)


async def resume_once(
    settings: Settings, database: Database, model_url: str
) -> tuple[float, float]:
    """(ms to the first new event, ms to `complete`) from `Runtime.create` on."""
    from tests.support.tools import sample_tools

    from orchestrator.llm.gateway import ModelGateway
    from orchestrator.llm.ollama import OllamaProvider
    from orchestrator.runtime import Runtime

    run_id, last_seq = await crashed_run(database)
    started = time.perf_counter()
    runtime = Runtime.create(
        settings,
        models=ModelGateway(settings, providers=[OllamaProvider(model_url)]),
        tools=sample_tools(),
    )
    try:
        with runtime.bus.subscribe(run_id) as queue:
            await runtime.start()
            first = await asyncio.wait_for(queue.get(), 30)
            first_at = time.perf_counter()
            assert first is not None and first.seq == last_seq + 1, first
            event = first
            while event is None or event.type != "complete":
                event = await asyncio.wait_for(queue.get(), 30)
            done_at = time.perf_counter()
            assert isinstance(event, CompleteEvent) and event.data.status == "succeeded", event
    finally:
        await runtime.close()
    return (first_at - started) * 1000, (done_at - started) * 1000


# -- report ------------------------------------------------------------------------------


@dataclass
class BackendResult:
    name: str
    tokens: tuple[float, float]
    durable: float
    concurrent: list[tuple[int, tuple[float, float, float], tuple[float, float, float]]]
    streams: list[StreamResult]
    resumes: list[tuple[float, float]]
    floors: list[float]  # queue_floor for each follower count


async def bench_backend(
    name: str, settings: Settings, args: argparse.Namespace, model_url: str
) -> BackendResult:
    database = await open_database(settings)
    try:
        await write_tokens(database, 500)  # warm up connections and statement caches
        tokens = await write_tokens(database, args.tokens)
        durable = await write_durable(database, args.durable)
        concurrent = [
            (
                runs,
                await write_concurrent(database, runs, args.concurrent_total, grouped=False),
                await write_concurrent(database, runs, args.concurrent_total, grouped=True),
            )
            for runs in args.runs
        ]
        streams = [await stream(database, n, args.stream) for n in args.followers]
        floors = [await queue_floor(n, args.stream) for n in args.followers]
        resumes = [await resume_once(settings, database, model_url) for _ in range(args.resumes)]
    finally:
        await database.engine.dispose()
    return BackendResult(name, tokens, durable, concurrent, streams, resumes, floors)


def report(results: list[BackendResult], args: argparse.Namespace) -> None:
    print(f"RunWriter throughput ({args.tokens} token deltas, {args.durable} durable events)")
    print(f"{'database':<10}{'tokens/s written':>18}{'tokens/s emitted':>18}{'durable/s':>11}")
    for r in results:
        print(f"{r.name:<10}{r.tokens[0]:>18,.0f}{r.tokens[1]:>18,.0f}{r.durable:>11,.0f}")
    print()
    print(
        f"Durable events of concurrent runs ({args.concurrent_total} tool events in all, "
        "each written before emit returns): one transaction per flush vs group commit"
    )
    print(
        f"{'database':<10}{'runs':>6}{'per-flush ev/s':>16}{'grouped ev/s':>14}{'ratio':>7}"
        f"{'events/txn':>12}{'CPU µs/ev per-flush':>21}{'grouped':>9}"
    )
    for r in results:
        for runs, (alone, _, alone_cpu), (grouped, per_txn, grouped_cpu) in r.concurrent:
            print(
                f"{r.name:<10}{runs:>6}{alone:>16,.0f}{grouped:>14,.0f}"
                f"{grouped / alone:>6.1f}x{per_txn:>12.1f}{alone_cpu:>21,.0f}{grouped_cpu:>9,.0f}"
            )
    print()
    print(
        f"Streaming to followers ({args.stream} events, 1 tool event per {DURABLE_EVERY}; "
        "latency emit -> receipt)"
    )
    print(
        f"{'database':<10}{'followers':>10}{'events/s':>10}{'CPU µs/recv':>12}"
        f"{'token p50':>11}{'token p99':>11}{'durable p50':>13}{'durable p99':>13}  (ms)"
    )
    for r in results:
        for s, floor in zip(r.streams, r.floors, strict=True):
            print(
                f"{r.name:<10}{s.followers:>10}{s.events_per_s:>10,.0f}{s.cpu_us_per_delivery:>12.1f}"
                f"{statistics.median(s.token_ms):>11.3f}{percentile(s.token_ms, 0.99):>11.3f}"
                f"{statistics.median(s.durable_ms):>13.3f}{percentile(s.durable_ms, 0.99):>13.3f}"
            )
            print(f"{'  floor: plain asyncio.Queue':<30}{floor:>12.1f}")
    print()
    print(
        f"Restart -> resumed run ({args.resumes} restarts; from Runtime.create + start, "
        "scripted instant model on loopback)"
    )
    print(
        f"{'database':<10}{'first new event p50':>21}{'max':>8}{'complete p50':>14}{'max':>8}  (ms)"
    )
    for r in results:
        first = [f for f, _ in r.resumes]
        done = [d for _, d in r.resumes]
        print(
            f"{r.name:<10}{statistics.median(first):>21.1f}{max(first):>8.1f}"
            f"{statistics.median(done):>14.1f}{max(done):>8.1f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--durable", type=int, default=1_000)
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--concurrent-total", type=int, default=3_000)
    parser.add_argument("--followers", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--stream", type=int, default=1_000, help="events per follower test")
    parser.add_argument("--resumes", type=int, default=5)
    parser.add_argument("--postgres", default=POSTGRES_URL, help="server URL (any database)")
    parser.add_argument("--no-postgres", dest="postgres", action="store_const", const=None)
    args = parser.parse_args(argv if argv is not None else [])

    from tests.support.scripted_model import ScriptedModelServer

    results: list[BackendResult] = []
    with ScriptedModelServer(default=instant_reply) as model:
        with tempfile.TemporaryDirectory() as tmp:
            settings = settings_for(Path(tmp))
            upgrade(settings)
            results.append(asyncio.run(bench_backend("sqlite", settings, args, model.url)))
        if args.postgres:
            with postgres_database(args.postgres) as url, tempfile.TemporaryDirectory() as tmp:
                if url is not None:
                    settings = settings_for(Path(tmp), url)
                    result = asyncio.run(bench_backend("postgres", settings, args, model.url))
                    results.append(result)
    report(results, args)


if __name__ == "__main__":
    main(sys.argv[1:])
