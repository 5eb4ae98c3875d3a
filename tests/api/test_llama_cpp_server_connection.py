"""A real OpenAI-compatible server nobody here wrote: llama-cpp-python's own
(`python -m llama_cpp.server`, the `server` extra) serving the bundled GGUF on loopback.
An admin adds it as a connection through the API, sees its model, and an agent turn runs
through it to `complete`. Slow (it loads a real model), and runs in CI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.llm.embedded import locate_model
from orchestrator.tools import ToolRegistry
from tests.conftest import Api
from tests.support.server import free_port, serve_in_thread
from tests.support.tools import add
from tests.support.ws import open_socket, receive_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
ALIAS = "smollm2-llama-cpp"


@pytest.fixture(scope="module")
def llama_cpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama_cpp.server on 127.0.0.1 with the bundled model; yields its /v1 base URL."""
    path, reason = locate_model()
    if path is None:
        pytest.fail(f"the bundled model is missing: {reason}")
    port = free_port()
    log = tmp_path_factory.mktemp("llama-cpp") / "server.log"
    # One thread, and OpenMP threads that sleep rather than spin: the machine is shared.
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "llama_cpp.server",
                "--model", str(path), "--model_alias", ALIAS,
                "--host", "127.0.0.1", "--port", str(port),
                "--n_ctx", "4096", "--n_threads", "1", "--n_threads_batch", "1",
                "--verbose", "False",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(process, base_url, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"llama_cpp.server did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


def test_an_agent_turn_runs_through_llama_cpp_server_added_as_a_connection(
    settings: Settings, llama_cpp_server: str
) -> None:
    settings = settings.model_copy(update={"max_iterations": 2, "memory_recall": False})
    app = create_app(settings, tools=ToolRegistry([add]))
    with serve_in_thread(app) as url:
        api = Api(url)
        admin = api.register()
        made = api.client.post(
            "/models/connections",
            json={"kind": "openai", "name": "llama-cpp", "base_url": llama_cpp_server},
            headers=admin.headers,
        )
        assert made.status_code == 201, made.text
        assert made.json()["health"]["status"] == "ok", made.json()["health"]
        assert made.json()["health"]["models"] == 1

        models = api.client.get("/system/models", headers=admin.headers).json()["data"]
        entry = next(m for m in models if m["name"] == ALIAS)
        assert entry["connection"] == "llama-cpp" and entry["provider"] == "openai"
        assert entry["id"] == ALIAS

        with open_socket(url, "/chat/ws", admin.token) as socket:
            socket.send(json.dumps({"message": "Say hello in one short sentence.", "model": ALIAS}))
            events = receive_until(socket, "complete", timeout=300)
        complete = events[-1]["data"]
        assert complete["status"] == "succeeded", events[-3:]
        assert complete["content"].strip()
        runs = api.client.get(f"/runs/{complete['run_id']}", headers=admin.headers).json()
        assert runs["model"] == ALIAS
