"""`orchestrator serve` as a real process on a data dir, for the tests that kill it and
start it again (runs and knowledge ingestion survive a restart)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

BIN = Path(sys.executable).parent / "orchestrator"


@contextmanager
def server_process(
    data_dir: Path,
    model_url: str,
    port: int,
    env: dict[str, str],
    *,
    start_seconds: float = 60,
    log: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """A server on `port` over `data_dir` and the model at `model_url`, with registration
    open, no rate limit in the way of polling, and `env` on top; its output goes to `log`
    (None: nowhere). Yields once it answers its health check; terminated on leaving."""
    full_env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "OLLAMA_URL": model_url,
        "REGISTRATION": "open",
        "RATE_LIMIT_PER_MINUTE": "1000000",  # the tests poll faster than people do
        "RATE_LIMIT_BURST": "100000",
        **env,
    }
    output: IO[bytes] | None = log.open("wb") if log is not None else None
    proc = subprocess.Popen(
        [BIN, "serve", "--port", str(port)],
        env=full_env,
        stdout=output if output is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if output is not None else subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/v1/system/health", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
                time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=15)
        if output is not None:
            output.close()
