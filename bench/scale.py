"""Runs per second and event latency with 1, 2 and 4 workers (`python -m bench.scale`).

One API process and N `orchestrator worker`s on the local Postgres and Redis (a fresh
database, Redis database 14), the scripted model answering every run in 50 ms: five
tokens, 10 ms apart, each carrying the time the model server emits it. A WebSocket
client on the API follows every run; a token's latency runs from its emission by the
model server to its receipt by the client (through the worker, Redis and the API).
Tokens emitted before the client's socket was live (replayed from the log) are left out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from tests.support.cluster import Cluster
from tests.support.scripted_model import Reply, ScriptedModelServer
from websockets.asyncio.client import connect

POSTGRES_URL = "postgresql://root@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/14"
TOKENS, TOKEN_DELAY = 5, 0.01  # a 50 ms reply


def stamped_reply(_: dict[str, Any]) -> Reply:
    """Tokens that carry the wall-clock time at which the server emits each of them."""
    start = time.time()
    stamps = [f"{start + i * TOKEN_DELAY:.6f}" for i in range(TOKENS)]  # yielded, then a pause
    return Reply(text=" ".join(stamps), token_delay=TOKEN_DELAY)


async def follow(base: str, token: str, run_id: str, latencies: list[float]) -> float:
    """Collect the latencies of the run's live tokens; the time its `complete` arrived."""
    url = f"{base.replace('http', 'ws', 1)}/api/v1/runs/{run_id}/ws?token={token}"
    async with connect(url, open_timeout=30) as socket:
        live_since: float | None = None  # tokens emitted before are replayed, not live
        async for raw in socket:
            event = json.loads(raw)
            live_since = live_since or time.time()
            if event["type"] == "token" and event["data"]["text"].strip():
                emitted = float(event["data"]["text"])
                if emitted > live_since:
                    latencies.append(time.time() - emitted)
            elif event["type"] == "complete":
                return time.monotonic()
    raise RuntimeError(f"run {run_id}: the socket closed before `complete`")


async def measure(api: str, runs: int) -> tuple[float, list[float]]:
    """Submit `runs` runs at once and follow them all: (runs per second, latencies)."""
    async with httpx.AsyncClient(base_url=f"{api}/api/v1", timeout=60) as client:
        name = f"bench{time.monotonic_ns()}"
        await client.post("/auth/register", json={"username": name, "password": "password-1"})
        login = await client.post("/auth/login", json={"username": name, "password": "password-1"})
        token = login.json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        latencies: list[float] = []
        started = time.monotonic()
        created = await asyncio.gather(
            *(
                client.post("/runs", json={"goal": f"g{i}", "agent": "assistant"})
                for i in range(runs)
            )
        )
        for response in created:
            assert response.status_code == 201, f"{response.status_code}: {response.text}"
        ends = await asyncio.gather(
            *(follow(api, token, r.json()["id"], latencies) for r in created)
        )
    return runs / (max(ends) - started), latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="runs per measurement")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to measure")
    parser.add_argument("--concurrency", type=int, default=4, help="runs per worker at once")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    rows = []
    with (
        ScriptedModelServer(default=stamped_reply) as model,
        tempfile.TemporaryDirectory() as tmp,
        Cluster.start(
            POSTGRES_URL,
            REDIS_URL,
            model.url,
            Path(tmp),
            apis=1,
            workers=0,
            SANDBOX="none",
            DB_POOL_SIZE="10",
            DB_MAX_OVERFLOW="10",
        ) as cluster,
    ):
        for count in counts:
            while len(cluster.workers) < count:
                cluster.add_worker(args.concurrency)
            cluster.wait_until_up()
            asyncio.run(measure(cluster.apis[0], 4))  # warm up the new workers
            rate, latencies = asyncio.run(measure(cluster.apis[0], args.runs))
            rows.append((count, rate, statistics.median(latencies), percentile(latencies, 0.99)))
    print(f"{'workers':>7} {'runs/s':>8} {'token p50 ms':>13} {'token p99 ms':>13}")
    for count, rate, p50, p99 in rows:
        print(f"{count:>7} {rate:>8.1f} {p50 * 1000:>13.1f} {p99 * 1000:>13.1f}")


if __name__ == "__main__":
    main()
