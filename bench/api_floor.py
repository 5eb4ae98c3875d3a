"""Our API against the floor, side by side in one run.

The floor is a minimal Starlette app on uvicorn doing exactly the work of our routes and
nothing else: the same JWT decoded with the same library, the same rows read through
SQLAlchemy core on aiosqlite, from the same SQLite file our `orchestrator serve` uses.
Both servers run at once; each point (route x clients) is measured on one then the other,
the order alternating by round, so a load on the machine weighs on both alike.

For each point: requests per second, p50/p99 latency, the server's CPU time per request
(from /proc, every process of the server) and our req/s as a share of the floor's.

    python -m bench.api_floor [--seconds 3] [--rounds 2] [--clients 1,10,50] [--workers 1]

With `--workers 2` ours is `serve --workers 2` (on Redis, `--redis-url`), the floor still
one process: what the second process buys.

The load comes from wrk when it is installed, else from a small keep-alive HTTP/1.1
client on asyncio here (far lighter per request than httpx: it must not be the ceiling).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from tests.support.server import free_port

from bench.api_latency import measure_wrk

SECRET = "bench-floor-secret-key-long-enough-0123456789abcdef"
ROUTES = ("/auth/me", "/system/health", "/conversations")
TARGETS = {"/auth/me": 0.5, "/system/health": 0.8}  # share of the floor's req/s
P99_TARGET_MS = 100.0  # at 50 clients
CONVERSATIONS = 20  # the user's list holds this many
REDIS_URL = "redis://127.0.0.1:6379/10"  # `serve --workers` needs one; database 10 is ours


# --- the floor ---------------------------------------------------------------------------


def floor_app(database: Path, secret: str):  # type: ignore[no-untyped-def]
    """The Starlette app: health is `SELECT 1`; `/auth/me` decodes the token and reads the
    user by primary key; `/conversations` does that, then the count and the page."""
    import jwt
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    engine = create_async_engine(f"sqlite+aiosqlite:///{database}")
    user_sql = text(
        "SELECT id, username, email, role, is_active, token_version, language, created_at "
        "FROM users WHERE id = :id"
    )
    count_sql = text("SELECT count(*) FROM conversations WHERE user_id = :id")
    page_sql = text(
        "SELECT id, title, model, agent, created_at, updated_at FROM conversations "
        "WHERE user_id = :id ORDER BY updated_at DESC LIMIT 100"
    )

    def user_id(request: Request) -> int:
        token = request.headers["authorization"][7:]
        return int(jwt.decode(token, secret, algorithms=["HS256"])["sub"])

    async def health(_: Request) -> JSONResponse:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok", "version": "floor", "database": "ok"})

    async def me(request: Request) -> JSONResponse:
        async with engine.connect() as conn:
            row = (await conn.execute(user_sql, {"id": user_id(request)})).mappings().one()
        return JSONResponse({**row, "created_at": str(row["created_at"])})

    async def conversations(request: Request) -> JSONResponse:
        async with engine.connect() as conn:
            uid = user_id(request)
            (await conn.execute(user_sql, {"id": uid})).one()
            total = (await conn.execute(count_sql, {"id": uid})).scalar_one()
            rows = (await conn.execute(page_sql, {"id": uid})).mappings().all()
        data = [
            {**r, "created_at": str(r["created_at"]), "updated_at": str(r["updated_at"])}
            for r in rows
        ]
        return JSONResponse({"data": data, "count": total})

    return Starlette(
        routes=[
            Route("/api/v1/system/health", health),
            Route("/api/v1/auth/me", me),
            Route("/api/v1/conversations", conversations),
        ]
    )


def serve_floor(database: str, port: int) -> None:
    import uvicorn

    app = floor_app(Path(database), os.environ["FLOOR_SECRET"])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- the servers -------------------------------------------------------------------------


def wait_healthy(proc: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 180  # a loaded machine imports slowly
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{base}: the server exited ({proc.returncode})")
        try:
            if httpx.get(f"{base}/system/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{base}: the server did not start")


def start_ours(data_dir: Path, port: int, workers: int, **settings: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": SECRET,
        "REGISTRATION": "open",
        "OLLAMA_URL": "http://127.0.0.1:9",
        # One user hammers the API: the limiter runs (its cost is measured) but never refuses.
        "RATE_LIMIT_PER_MINUTE": "100000000",
        "RATE_LIMIT_BURST": "1000000",
        **settings,
    }
    binary = Path(sys.executable).parent / "orchestrator"
    args = [str(binary), "serve", "--port", str(port)]
    if workers > 1:
        args += ["--workers", str(workers)]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_floor(database: Path, port: int) -> subprocess.Popen[bytes]:
    code = f"from bench.api_floor import serve_floor; serve_floor({str(database)!r}, {port})"
    env = {**os.environ, "FLOOR_SECRET": SECRET}
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process and its children (uvicorn's workers)."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


# --- the load ----------------------------------------------------------------------------

CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
STATUS = re.compile(rb"HTTP/1\.1 (\d{3})")


async def _connection(
    port: int, request: bytes, until: float, latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    clock = time.perf_counter
    try:
        while clock() < until:
            started = clock()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = CONTENT_LENGTH.search(head)
            if length is None:  # every answer of these routes has a length
                raise RuntimeError(f"no content-length in {head[:200]!r}")
            await reader.readexactly(int(length.group(1)))
            latencies.append((clock() - started) * 1000)
            status = STATUS.match(head)
            if status is None or status.group(1) != b"200":
                errors.append(head[:40].decode("latin-1"))
    finally:
        writer.close()


async def _load(
    port: int, path: str, headers: dict[str, str], clients: int, seconds: float
) -> tuple[list[float], list[str], float]:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(_connection(port, request, until, latencies, errors) for _ in range(clients))
    )
    return latencies, errors, time.perf_counter() - started


def run_loop(coroutine):  # type: ignore[no-untyped-def]
    try:
        import uvloop

        return uvloop.run(coroutine)
    except ImportError:
        return asyncio.run(coroutine)


@dataclass
class Point:
    requests: int
    seconds: float
    cpu: float
    latencies: list[float]  # empty with wrk
    p50: float
    p99: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.requests * 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def measure(
    pid: int, port: int, path: str, headers: dict[str, str], clients: int, seconds: float, wrk: bool
) -> Point:
    url = f"http://127.0.0.1:{port}/api/v1{path}"
    run_loop(_load(port, "/api/v1" + path, headers, clients, 0.3))  # warm the connections
    settle(pid, port)
    cpu_before = cpu_seconds(pid)
    if wrk:
        started = time.perf_counter()
        p50, p99, n = measure_wrk(url, headers, clients, max(1, round(seconds)))
        elapsed = time.perf_counter() - started
        return Point(n, elapsed, cpu_seconds(pid) - cpu_before, [], p50, p99)
    latencies, errors, elapsed = run_loop(_load(port, "/api/v1" + path, headers, clients, seconds))
    cpu = cpu_seconds(pid) - cpu_before
    if errors:
        raise RuntimeError(f"{url}: {len(errors)} answers were not 200, e.g. {errors[0]}")
    return Point(len(latencies), elapsed, cpu, latencies, 0.0, 0.0)


def settle(pid: int, port: int, seconds: float = 3.0) -> None:
    """Wait until the server has closed the connections of the load before (its warm-up's
    closed at once on the client side). The next load's connections otherwise open while
    those are still being closed, on the same loopback ports: at 50 connections, p99 went
    from 76-86 ms to 0.5-1.15 s with no callback of the server's loop over 50 ms."""
    server = psutil.Process(pid)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        conns = [
            c
            for proc in [server, *server.children(recursive=True)]
            for c in proc.net_connections(kind="tcp")
            if c.laddr and c.laddr.port == port and c.status != psutil.CONN_LISTEN
        ]
        if not conns:
            return
        time.sleep(0.02)


def merge(points: list[Point]) -> Point:
    """The rounds of one point as one: requests and seconds added up, percentiles over all
    latencies (with wrk, the median of the rounds' percentiles)."""
    latencies = [v for p in points for v in p.latencies]
    if latencies:
        p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    else:
        p50 = statistics.median(p.p50 for p in points)
        p99 = statistics.median(p.p99 for p in points)
    return Point(
        sum(p.requests for p in points),
        sum(p.seconds for p in points),
        sum(p.cpu for p in points),
        [],
        p50,
        p99,
    )


def prepare(base: str) -> dict[str, str]:
    """A user with `CONVERSATIONS` conversations; the headers that authenticate as them."""
    with httpx.Client(base_url=base, timeout=60) as client:
        client.post("/auth/register", json={"username": "bench", "password": "password-1"})
        login = client.post("/auth/login", json={"username": "bench", "password": "password-1"})
        login.raise_for_status()
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for n in range(CONVERSATIONS):
            client.post("/conversations", json={"title": f"bench {n}"}, headers=auth)
    return auth


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per point and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", default="1,10,50", help="concurrent keep-alive clients")
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--workers", type=int, default=1, help="`serve --workers` of ours")
    parser.add_argument("--redis-url", default=REDIS_URL, help="for ours when --workers is above 1")
    parser.add_argument("--python-client", action="store_true", help="never wrk")
    args = parser.parse_args(argv if argv is not None else [])
    wrk = shutil.which("wrk") is not None and not args.python_client
    clients = [int(c) for c in args.clients.split(",")]
    routes = [r for r in args.routes.split(",") if r]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        ours_port, floor_port = free_port(), free_port()
        redis = {"REDIS_URL": args.redis_url} if args.workers > 1 else {}
        ours = start_ours(data_dir, ours_port, args.workers, **redis)
        floor: subprocess.Popen[bytes] | None = None
        try:
            wait_healthy(ours, f"http://127.0.0.1:{ours_port}/api/v1")
            auth = prepare(f"http://127.0.0.1:{ours_port}/api/v1")
            floor = start_floor(data_dir / "orchestrator.db", floor_port)
            wait_healthy(floor, f"http://127.0.0.1:{floor_port}/api/v1")
            servers = {"floor": (floor.pid, floor_port), "ours": (ours.pid, ours_port)}
            results: dict[tuple[str, int, str], list[Point]] = {}
            for round_ in range(args.rounds):
                for path in routes:
                    headers = {} if path == "/system/health" else auth
                    for count in clients:
                        order = ["floor", "ours"] if round_ % 2 == 0 else ["ours", "floor"]
                        for name in order:
                            pid, port = servers[name]
                            point = measure(pid, port, path, headers, count, args.seconds, wrk)
                            results.setdefault((path, count, name), []).append(point)
        finally:
            for proc in (ours, floor):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    proc.wait(timeout=15)
    report(results, routes, clients, wrk, args)


def report(
    results: dict[tuple[str, int, str], list[Point]],
    routes: list[str],
    clients: list[int],
    wrk: bool,
    args: argparse.Namespace,
) -> None:
    print(
        f"load: {'wrk' if wrk else 'asyncio keep-alive client'}, {args.rounds} rounds x "
        f"{args.seconds:g} s per point, interleaved; ours with {args.workers} process(es); "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )
    head = f"{'route':<16}{'clients':>8}  {'server':<6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
    print(head + f"{'CPU ms/req':>12}{'vs floor':>10}")
    verdicts: list[str] = []
    for path in routes:
        for count in clients:
            floor = merge(results[(path, count, "floor")])
            ours = merge(results[(path, count, "ours")])
            for name, point in (("floor", floor), ("ours", ours)):
                share = f"{point.rps / floor.rps:>9.0%}" if name == "ours" else ""
                print(
                    f"{path:<16}{count:>8}  {name:<6}{point.rps:>9.0f}{point.p50:>9.2f}"
                    f"{point.p99:>9.2f}{point.cpu_ms:>12.2f} {share}"
                )
            if count == max(clients) and path in TARGETS:
                share = ours.rps / floor.rps
                ok = "met" if share >= TARGETS[path] else "NOT met"
                verdicts.append(
                    f"{path}: {share:.0%} of the floor (target {TARGETS[path]:.0%}) {ok}"
                )
            if count == 50:
                ok = "met" if ours.p99 < P99_TARGET_MS else "NOT met"
                verdicts.append(f"{path}: p99 at 50 clients {ours.p99:.0f} ms (< 100) {ok}")
    for line in verdicts:
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
