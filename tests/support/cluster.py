"""A multi-process deployment on loopback for tests and benchmarks: API processes
(`orchestrator serve --port`) and workers (`orchestrator worker`) sharing one fresh
Postgres database and one Redis database number, with OLLAMA_URL on a scripted model.

    with Cluster.start(pg_url, redis_url, model.url, tmp_path, apis=2, workers=2) as cluster:
        cluster.apis[0]            # base URL of API process 1
        cluster.workers[0].pid     # kill it, then cluster.add_worker()
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import asyncpg
import httpx
import redis

from tests.support.server import free_port

BIN = Path(sys.executable).parent / "orchestrator"
SECRET = "cluster-secret-key-that-is-long-enough-0123456789"


async def _pg(dsn: str, statement: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return list(await conn.fetch(statement))
    finally:
        await conn.close()


def pg(dsn: str, statement: str) -> list[asyncpg.Record]:
    """Run one statement on Postgres (asyncpg) and return its rows."""
    return asyncio.run(_pg(dsn, statement))


@dataclass
class Cluster:
    """The processes of one deployment, and where to reach them."""

    dsn: str  # plain postgresql:// URL of the cluster's own database
    redis_url: str
    env: dict[str, str]
    logs: Path
    apis: list[str] = field(default_factory=list)
    api_procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _files: list[IO[bytes]] = field(default_factory=list)
    _spawned: int = 0

    @classmethod
    @contextmanager
    def start(
        cls,
        postgres_url: str,
        redis_url: str,
        model_url: str,
        data_dir: Path,
        *,
        apis: int = 2,
        workers: int = 2,
        **env: str,
    ) -> Iterator[Cluster]:
        """A fresh database (migrated by two concurrent `orchestrator migrate`), a flushed
        Redis database, then the processes; everything is stopped and dropped afterwards."""
        name = f"orch_scale_{uuid.uuid4().hex[:8]}"
        pg(postgres_url, f'CREATE DATABASE "{name}"')
        dsn = postgres_url.rsplit("/", 1)[0] + f"/{name}"
        redis.Redis.from_url(redis_url).flushdb()
        base_env = {
            **os.environ,
            "DATA_DIR": str(data_dir),
            "DATABASE_URL": dsn.replace("postgresql://", "postgresql+asyncpg://"),
            "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET,
            "OLLAMA_URL": model_url,
            "DEFAULT_MODEL": "scripted",
            "REGISTRATION": "open",
            "RUN_LEASE_SECONDS": "2",
            "DB_POOL_SIZE": "4",
            "DB_MAX_OVERFLOW": "4",
            # The tests poll far faster than people: a limit they never reach.
            "RATE_LIMIT_PER_MINUTE": "1000000",
            "RATE_LIMIT_BURST": "100000",
            **env,
        }
        cluster = cls(dsn, redis_url, base_env, data_dir / "logs")
        cluster.logs.mkdir(parents=True, exist_ok=True)
        try:
            cluster.migrate_concurrently()
            for _ in range(apis):
                cluster.add_api()
            for _ in range(workers):
                cluster.add_worker()
            cluster.wait_until_up()
            yield cluster
        finally:
            cluster.stop()
            pg(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def migrate_concurrently(self) -> None:
        """Two `orchestrator migrate` at once: the advisory lock lets one migrate at a time."""
        procs = [
            subprocess.Popen([BIN, "migrate"], env=self.env, stdout=self._log("migrate"))
            for _ in range(2)
        ]
        codes = [proc.wait(timeout=120) for proc in procs]
        assert codes == [0, 0], f"concurrent migrations failed: {codes} (see {self.logs})"

    def add_api(self) -> str:
        port = free_port()
        self.api_procs.append(self._spawn(f"api{len(self.apis) + 1}", "serve", "--port", port))
        self.apis.append(f"http://127.0.0.1:{port}")
        return self.apis[-1]

    def add_worker(self, concurrency: int = 4) -> subprocess.Popen[bytes]:
        self._spawned += 1
        proc = self._spawn(f"worker{self._spawned}", "worker", "--concurrency", concurrency)
        self.workers.append(proc)
        return proc

    def wait_until_up(self, seconds: float = 90) -> None:
        """Until every API answers its health check and every worker is listening."""
        deadline = time.monotonic() + seconds
        for url, proc in zip(self.apis, self.api_procs, strict=True):
            while True:
                try:
                    if httpx.get(f"{url}/api/v1/system/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, f"{url} exited (see {self.logs})"
                assert time.monotonic() < deadline, f"{url} did not start (see {self.logs})"
                time.sleep(0.1)
        while sum(1 for p in self.workers if p.poll() is None) > self.listening_workers():
            assert all(p.poll() is None for p in self.workers), f"a worker exited ({self.logs})"
            assert time.monotonic() < deadline, f"workers did not start (see {self.logs})"
            time.sleep(0.1)

    def listening_workers(self) -> int:
        """How many workers listen on the control channel."""
        client = redis.Redis.from_url(self.redis_url)
        counts: list[tuple[bytes, int]] = client.pubsub_numsub("orchestrator:control")  # type: ignore[assignment]
        client.close()
        return int(counts[0][1])

    def holder_pid(self, run_id: str) -> int | None:
        """The pid of the worker holding the run's lease (owner is host:pid:nonce)."""
        rows = pg(self.dsn, f"SELECT lease_owner FROM runs WHERE id = '{run_id}'")
        owner = rows[0][0] if rows else None
        return int(owner.split(":")[1]) if owner else None

    def stop(self) -> None:
        for proc in [*self.api_procs, *self.workers]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.api_procs, *self.workers]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for file in self._files:
            file.close()

    def _log(self, name: str) -> IO[bytes]:
        file = (self.logs / f"{name}.log").open("ab")
        self._files.append(file)
        return file

    def _spawn(self, name: str, *args: object) -> subprocess.Popen[bytes]:
        out = self._log(name)
        return subprocess.Popen(
            [BIN, *map(str, args)], env=self.env, stdout=out, stderr=subprocess.STDOUT
        )
