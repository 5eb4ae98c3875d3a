"""`orchestrator serve --workers N`: N API processes on one port, real processes on
SQLite with Redis (database 9) and one `orchestrator worker`; refused without Redis."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import redis

from tests.conftest import REDIS_URL, require_service
from tests.support.cluster import BIN, SECRET
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import free_port
from tests.support.ws import open_socket

WORKERS_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/9"  # a database number of its own

pytestmark = pytest.mark.redis


def test_more_than_one_process_is_refused_without_redis(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    done = subprocess.run(
        [BIN, "serve", "--workers", "2", "--port", str(free_port())],
        env={**env, "DATA_DIR": str(tmp_path), "SECRET_KEY": SECRET},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "needs REDIS_URL" in done.stdout
    assert not (tmp_path / "orchestrator.db").exists()  # refused before touching anything


@dataclass
class Served:
    url: str
    port: int
    parent: subprocess.Popen[bytes]
    logs: Path

    def processes(self) -> list[psutil.Process]:
        """The live API processes under uvicorn's supervisor (not multiprocessing's
        resource tracker)."""
        found = []
        for child in psutil.Process(self.parent.pid).children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(
                    child.cmdline()
                ):
                    found.append(child)
            except psutil.NoSuchProcess:
                continue
        return found

    def owner(self, client_port: int) -> int:
        """The pid of the API process holding the connection from `client_port`."""
        for proc in self.processes():
            for conn in proc.net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port == client_port and conn.laddr.port == self.port:
                    return proc.pid
        raise AssertionError(f"no API process holds the connection from port {client_port}")


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, scripted: ScriptedModelServer
) -> Iterator[Served]:
    """`serve --workers 2` and one worker, shared by this module's tests (starting
    processes is the slow part)."""
    tmp_path = tmp_path_factory.mktemp("workers")
    model = scripted
    try:
        redis.Redis.from_url(WORKERS_REDIS_URL, socket_timeout=2).flushdb()
        reachable = True
    except (redis.RedisError, OSError):
        reachable = False
    require_service(f"Redis at {WORKERS_REDIS_URL}", reachable)
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "REDIS_URL": WORKERS_REDIS_URL,
        "SECRET_KEY": SECRET,
        "OLLAMA_URL": model.url,
        "DEFAULT_MODEL": "scripted",
        "REGISTRATION": "open",
        "SANDBOX": "none",
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "RATE_LIMIT_BURST": "100000",
        "LOGIN_MAX_FAILURES": "4",
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    api_log, worker_log = (logs / "api.log").open("wb"), (logs / "worker.log").open("wb")
    parent = subprocess.Popen(
        [BIN, "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=api_log,
        stderr=subprocess.STDOUT,
    )
    worker: subprocess.Popen[bytes] | None = None
    served = Served(f"http://127.0.0.1:{port}", port, parent, logs)
    try:
        wait_for_processes(served, 2, started=2)
        # After serve migrated the database: the worker finds the schema in place.
        worker = subprocess.Popen(
            [BIN, "worker", "--concurrency", "2"],
            env=env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
        yield served
    finally:
        for proc in (worker, parent):
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in (worker, parent):
            if proc is not None:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        api_log.close()
        worker_log.close()


def wait_for_processes(served: Served, count: int, started: int, seconds: float = 120) -> None:
    """Until `count` API processes run, `started` have finished starting in all (each
    logs it: a process accepts connections only then) and the port answers."""
    deadline = time.monotonic() + seconds
    log = served.logs / "api.log"
    while True:
        assert served.parent.poll() is None, log.read_text()
        try:
            healthy = httpx.get(f"{served.url}/api/v1/system/health").status_code == 200
        except httpx.TransportError:
            healthy = False
        ready = log.read_text().count("Application startup complete") >= started
        if healthy and ready and len(served.processes()) == count:
            return
        assert time.monotonic() < deadline, f"not {count} processes up (see {served.logs})"
        time.sleep(0.1)


def follow(socket: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while not events or events[-1]["type"] != "complete":
        events.append(json.loads(socket.recv(timeout=60)))
    return events


def test_two_processes_share_the_port_and_each_follows_a_run_a_worker_executes(
    served: Served, model: ScriptedModelServer
) -> None:
    api = httpx.Client(base_url=f"{served.url}/api/v1", timeout=30)
    api.post("/auth/register", json={"username": "alice", "password": "password-1"})
    token = api.post("/auth/login", json={"username": "alice", "password": "password-1"}).json()[
        "access_token"
    ]
    api.headers["Authorization"] = f"Bearer {token}"
    model.enqueue(text=" ".join(f"w{i}" for i in range(40)), token_delay=0.02)
    created = api.post("/runs", json={"goal": "count", "agent": "assistant"})
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]

    # Sockets until both API processes hold one: the kernel hands each new connection to
    # whichever process accepts it first.
    sockets: dict[int, Any] = {}
    with ExitStack() as stack:
        for _ in range(60):
            if len(sockets) == 2:
                break
            socket = stack.enter_context(open_socket(served.url, f"/runs/{run_id}/ws", token))
            sockets.setdefault(served.owner(socket.socket.getsockname()[1]), socket)
        assert len(sockets) == 2, "60 connections all went to one process"
        streams = [follow(socket) for socket in sockets.values()]
    first, second = streams
    assert first == second  # the same log, whichever process streamed it
    assert [e["seq"] for e in first] == list(range(1, len(first) + 1))
    assert first[-1]["data"]["status"] == "succeeded"
    # Every word came, in order (tokens that arrive together are one event).
    streamed = "".join(e["data"]["text"] for e in first if e["type"] == "token")
    assert streamed.split() == [f"w{i}" for i in range(40)]


def test_a_killed_process_is_replaced_and_the_port_keeps_answering(served: Served) -> None:
    victim = served.processes()[0].pid
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while victim in {p.pid for p in served.processes()} or len(served.processes()) < 2:
        assert time.monotonic() < deadline, f"no process replaced {victim} (see {served.logs})"
        time.sleep(0.1)
    wait_for_processes(served, 2, started=3)
    answers = {httpx.get(f"{served.url}/api/v1/system/health").status_code for _ in range(20)}
    assert answers == {200}


def test_a_password_guesser_spread_over_both_processes_is_locked_out_at_the_limit(
    served: Served,
) -> None:
    httpx.post(
        f"{served.url}/api/v1/auth/register",
        json={"username": "target", "password": "correct-horse-1"},
    )
    # One keep-alive connection on each API process.
    connections: dict[int, http.client.HTTPConnection] = {}
    for _ in range(60):
        if len(connections) == 2:
            break
        conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
        conn.connect()
        owner = served.owner(conn.sock.getsockname()[1])
        if owner in connections:
            conn.close()
        else:
            connections[owner] = conn
    assert len(connections) == 2, "60 connections all went to one process"
    statuses = []
    body = json.dumps({"username": "target", "password": "wrong-guess"})
    for n in range(8):
        conn = list(connections.values())[n % 2]
        conn.request("POST", "/api/v1/auth/login", body, {"Content-Type": "application/json"})
        reply = conn.getresponse()
        reply.read()
        statuses.append(reply.status)
    for conn in connections.values():
        conn.close()
    # LOGIN_MAX_FAILURES=4 in all: counted per process, each would allow 4 (8 in total).
    assert statuses == [401] * 4 + [429] * 4, statuses
