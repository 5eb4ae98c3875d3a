"""Chat turns per second end to end, over the WebSocket (`python -m bench.runs`).

N clients each hold a socket on `/api/v1/chat/ws` and send one message after another,
each turn a new conversation answered by the scripted model (a separate process, no
delay between tokens: nine tokens a turn, which arrive in one read and so usually make
one `token` event: a turn is four events, status, token, usage and complete). Measured
against real servers:

- `sqlite`: one `orchestrator serve` process on SQLite, runs executed in that process;
- `pg+redis, N workers`: one `orchestrator serve` and N `orchestrator worker`s on a fresh
  Postgres database and Redis database 10 (runs go through the queue to the workers,
  events come back through Redis).

Per row: turns/s (turns completed / wall time), first-token latency p50/p99 (message
sent -> first `token` frame), events/s received by the clients, the durable events
(everything but token and thinking deltas) the database stored per second, and the CPU
each process spent per turn: the server (with its workers, on Postgres + Redis), the
scripted model and this client. The three share the machine's cores: when the model's
or the client's share is large, the server is not what bounds turns/s.

    python -m bench.runs [--turns 400] [--clients 1 10 50] [--workers 1 2]
                         [--no-postgres] [--no-sqlite] [--profile DIR]
                         [--compare SRC ...] [--rounds 1]

`--profile DIR` records the serving process (SQLite) with py-spy into DIR (collapsed
stacks, for speedscope or flamegraph.pl), if py-spy is on PATH.

`--compare SRC ...` runs the SQLite rows once per source tree (a `src` folder put first
on the server's PYTHONPATH; `.` is the tree this runs from), interleaved: every row of
every tree, then again for `--rounds`, so that load on the machine falls on each alike.
The load average is printed with each row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import psutil
import redis
from tests.support.cluster import BIN, Cluster, pg
from tests.support.server import free_port
from websockets.asyncio.client import connect

POSTGRES_URL = "postgresql://root@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/10"
SECRET = "bench-runs-secret-key-that-is-long-enough-0123456789"
SERVER_ENV = {
    "SECRET_KEY": SECRET,
    "DEFAULT_MODEL": "scripted",
    "REGISTRATION": "open",
    "SANDBOX": "none",
    "RATE_LIMIT_PER_MINUTE": "100000000",
    "RATE_LIMIT_BURST": "10000000",
    "QUOTA_CONCURRENT_RUNS": "1000",
    "LOG_LEVEL": "WARNING",
}
DELTAS = ("token", "thinking")
DELAY = ("--token-delay", "0")


@dataclass
class Row:
    setup: str
    clients: int
    turns: int
    seconds: float
    first_token_ms: list[float]
    events: int
    durable: int
    cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)  # seconds: server, model, client
    load: float = 0.0  # the 1-minute load average when the row ended

    def line(self) -> str:
        p50 = statistics.median(self.first_token_ms)
        p99 = percentile(self.first_token_ms, 0.99)
        server, model, client = (1000 * c / self.turns for c in self.cpu)
        return (
            f"{self.setup:<22}{self.clients:>8}{self.turns / self.seconds:>9.1f}"
            f"{p50:>10.1f}{p99:>10.1f}{self.events / self.seconds:>11,.0f}"
            f"{self.durable / self.seconds:>11,.0f}"
            f"{server:>9.1f}{model:>8.1f}{client:>8.1f}{self.load:>7.1f}"
        )


HEADER = (
    f"{'setup':<22}{'clients':>8}{'turns/s':>9}{'1st p50':>10}{'1st p99':>10}"
    f"{'events/s':>11}{'durable/s':>11}{'server':>9}{'model':>8}{'client':>8}{'load':>7}"
    "  (latency in ms; CPU in ms per turn)"
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and its children (a cluster's workers)."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


@dataclass
class Model:
    """The scripted model's process."""

    url: str
    pid: int


@contextlib.contextmanager
def scripted_model() -> Iterator[Model]:
    """The scripted model in its own process (its CPU is not the server's), no delays."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.scripted_model", "--port", str(port), *DELAY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/api/version", proc)
        yield Model(url, proc.pid)
    finally:
        proc.terminate()
        proc.wait(15)


def wait_for(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.05)


@contextlib.contextmanager
def sqlite_server(model_url: str, data_dir: Path, src: str = ".") -> Iterator[tuple[str, int]]:
    """`orchestrator serve` on SQLite in `data_dir`, its code from `src` (`.`: this
    tree's, as imported here): (base URL, pid)."""
    port = free_port()
    env = {**os.environ, **SERVER_ENV, "DATA_DIR": str(data_dir), "OLLAMA_URL": model_url}
    if src != ".":
        paths = [src, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(paths)
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    log = (data_dir / "serve.log").open("ab")
    proc = subprocess.Popen(
        [BIN, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/api/v1/system/health", proc)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


async def login(api: str) -> str:
    async with httpx.AsyncClient(base_url=f"{api}/api/v1", timeout=60) as client:
        name = f"bench{time.monotonic_ns()}"
        await client.post("/auth/register", json={"username": name, "password": "password-1"})
        body = await client.post("/auth/login", json={"username": name, "password": "password-1"})
        token: str = body.json()["access_token"]
        return token


async def drive(api: str, token: str, clients: int, turns: int) -> tuple[float, list[float], int]:
    """`turns` chat turns by `clients` sockets at once: (seconds, first-token ms, events)."""
    url = f"{api.replace('http', 'ws', 1)}/api/v1/chat/ws?token={token}"
    left = turns
    first_ms: list[float] = []
    events = 0

    async def client() -> None:
        nonlocal left, events
        async with connect(url, open_timeout=30, max_size=None) as socket:
            while left > 0:
                left -= 1
                sent = time.perf_counter()
                await socket.send(json.dumps({"message": "hello"}))
                first = None
                while True:
                    event = json.loads(await asyncio.wait_for(socket.recv(), 60))
                    events += 1
                    if event["type"] == "token" and first is None:
                        first = time.perf_counter()
                        first_ms.append((first - sent) * 1000)
                    elif event["type"] == "error" and "seq" not in event:
                        raise RuntimeError(f"the server refused a turn: {event['data']}")
                    elif event["type"] == "complete":
                        if event["data"]["status"] != "succeeded":
                            raise RuntimeError(f"a turn ended {event['data']['status']}")
                        break

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, first_ms, events


def durable_count_sqlite(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "orchestrator.db") as db:
        placeholders = ",".join("?" * len(DELTAS))
        query = f"SELECT count(*) FROM run_events WHERE type NOT IN ({placeholders})"
        return int(db.execute(query, DELTAS).fetchone()[0])


def durable_count_pg(dsn: str) -> int:
    rows = pg(dsn, "SELECT count(*) FROM run_events WHERE type NOT IN ('token', 'thinking')")
    return int(rows[0][0])


def measure(
    setup: str,
    api: str,
    clients: int,
    turns: int,
    durable: Callable[[], int],
    server_cpu: Callable[[], float],
    model_pid: int,
    around: contextlib.AbstractContextManager[None] | None = None,
) -> Row:
    """One row; `server_cpu`: the CPU seconds the server's processes have spent."""
    token = asyncio.run(login(api))
    asyncio.run(drive(api, token, 1, 1))  # the first turn embeds the tools for retrieval
    asyncio.run(drive(api, token, clients, max(clients, 20)))  # warm up
    before = durable()
    cpu = [server_cpu(), cpu_seconds(model_pid), time.process_time()]
    with around or contextlib.nullcontext():
        seconds, first_ms, events = asyncio.run(drive(api, token, clients, turns))
    after = [server_cpu(), cpu_seconds(model_pid), time.process_time()]
    spent = (after[0] - cpu[0], after[1] - cpu[1], after[2] - cpu[2])
    row = Row(setup, clients, turns, seconds, first_ms, events, durable() - before, spent)
    row.load = os.getloadavg()[0]
    return row


@contextlib.contextmanager
def profiling(pid: int, out: Path | None) -> Iterator[None]:
    """py-spy on `pid` while the block runs (a flame graph in `out`), if asked and found."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if out is None or not Path(spy).exists():
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            spy,
            "record",
            "-p",
            str(pid),
            "-o",
            str(out / f"serve-{pid}.txt"),
            "-f",
            "raw",
            "-r",
            "200",
            "--gil",  # only samples that hold the GIL: where the CPU goes, not the waits
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.send_signal(2)
        proc.wait(60)


def bench_sqlite(model: Model, args: argparse.Namespace) -> list[Row]:
    """The SQLite rows: per source tree (`--compare`), interleaved, `--rounds` times."""
    sources = args.compare or ["."]
    rows = []
    for _ in range(args.rounds):
        for clients in args.clients:
            for src in sources:
                # A fresh server and database for each row: no row inherits another's.
                with (
                    tempfile.TemporaryDirectory() as tmp,
                    sqlite_server(model.url, Path(tmp), src) as (api, pid),
                ):
                    profile = args.profile if clients == max(args.clients) else None
                    setup = "sqlite" if src == "." else f"sqlite, {Path(src).resolve().parent.name}"
                    row = measure(
                        setup,
                        api,
                        clients,
                        args.turns,
                        lambda tmp=tmp: durable_count_sqlite(Path(tmp)),  # type: ignore[misc]
                        functools.partial(cpu_seconds, pid),
                        model.pid,
                        profiling(pid, profile / Path(src).name if profile else None),
                    )
                rows.append(row)
                print(row.line(), flush=True)
    return rows


def bench_cluster(model: Model, args: argparse.Namespace) -> list[Row]:
    try:
        pg(POSTGRES_URL, "SELECT 1")
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except (OSError, asyncpg.PostgresError, redis.RedisError) as exc:
        print(f"   Postgres + Redis skipped: not reachable ({exc.__class__.__name__})")
        return []
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        Cluster.start(
            POSTGRES_URL,
            REDIS_URL,
            model.url,
            Path(tmp),
            apis=1,
            workers=0,
            **SERVER_ENV,
            DB_POOL_SIZE="20",
            DB_MAX_OVERFLOW="20",
            RUN_LEASE_SECONDS="30",
        ) as cluster,
    ):
        for count in args.workers:
            while len(cluster.workers) < count:
                cluster.add_worker(max(args.clients))
            cluster.wait_until_up()
            for clients in args.clients:
                row = measure(
                    f"pg+redis, {count} worker{'s' if count > 1 else ''}",
                    cluster.apis[0],
                    clients,
                    args.turns,
                    lambda: durable_count_pg(cluster.dsn),
                    lambda: sum(cpu_seconds(p.pid) for p in cluster.api_procs + cluster.workers),
                    model.pid,
                )
                rows.append(row)
                print(row.line(), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=400, help="turns per measurement")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-sqlite", dest="sqlite", action="store_false")
    parser.add_argument("--no-postgres", dest="postgres", action="store_false")
    parser.add_argument("--profile", type=Path, help="py-spy flame graph of the server here")
    parser.add_argument(
        "--compare", nargs="+", metavar="SRC", help="SQLite rows per source tree, interleaved"
    )
    parser.add_argument("--rounds", type=int, default=1, help="SQLite rows this many times")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    rows: list[Row] = []
    print(HEADER, flush=True)
    with scripted_model() as model:
        if args.sqlite:
            rows += bench_sqlite(model, args)
        if args.postgres:
            rows += bench_cluster(model, args)
    print(f"Chat turns over /chat/ws ({args.turns} turns per row, scripted model, no delay)")
    print(HEADER)
    for row in rows:
        print(row.line())


if __name__ == "__main__":
    main()
