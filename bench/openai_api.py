"""`/v1/chat/completions` time to first token next to the native WebSocket path, in the
same run: one real server (uvicorn in a thread) on the scripted model with no latency,
messages sent one after another, the two paths alternating so that both see the same
machine load.

    python -m bench.openai_api [--messages 100]

Rows: WebSocket `/api/v1/chat/ws` (send -> first `token` event), `/v1/chat/completions`
streamed through the official `openai` client (create -> first content delta), and the
same without streaming (create -> whole answer).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WARM_UP = 5


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def measure(count: int) -> dict[str, list[float]]:
    """Milliseconds per path for `count` messages each (after a warm-up)."""
    import httpx
    from openai import OpenAI
    from tests.support.scripted_model import Reply, ScriptedModelServer
    from tests.support.server import serve_in_thread
    from tests.support.tools import sample_tools
    from tests.support.ws import open_socket

    from orchestrator.app import create_app
    from orchestrator.core.config import Settings
    from orchestrator.db.migrate import upgrade
    from orchestrator.llm.gateway import ModelGateway
    from orchestrator.llm.ollama import OllamaProvider

    def reply(body: dict[str, Any]) -> Reply:
        return Reply(text="Hello from the bench model, streamed word by word.")

    results: dict[str, list[float]] = {"ws": [], "v1_stream": [], "v1_whole": []}
    with tempfile.TemporaryDirectory() as tmp, ScriptedModelServer(default=reply) as model:
        settings = Settings(
            _env_file=None,
            data_dir=Path(tmp),
            secret_key="bench-secret-key-that-is-long-enough-0123456789",
            registration="open",
            ollama_url=model.url,
            redis_url=None,
        )
        upgrade(settings)
        gateway = ModelGateway(settings, providers=[OllamaProvider(model.url)])
        app = create_app(settings, models=gateway, tools=sample_tools())
        with serve_in_thread(app) as url, httpx.Client(base_url=f"{url}/api/v1") as http:
            credentials = {"username": "bench", "password": "password-1"}
            http.post("/auth/register", json=credentials).raise_for_status()
            token = http.post("/auth/login", json=credentials).json()["access_token"]
            client = OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0)
            with open_socket(url, "/chat/ws", token=token) as ws:

                def over_ws(i: int) -> float:
                    started = time.perf_counter()
                    ws.send(json.dumps({"message": f"hello {i}"}))
                    first = None
                    while True:
                        event = json.loads(ws.recv(timeout=30))
                        if event["type"] == "token" and first is None:
                            first = time.perf_counter()
                        elif event["type"] == "error" and event.get("seq") is None:
                            raise RuntimeError(event["data"])
                        elif event["type"] == "complete":
                            break
                    assert first is not None, "the answer streamed no token"
                    return (first - started) * 1000

                def v1_stream(i: int) -> float:
                    started = time.perf_counter()
                    first = None
                    stream = client.chat.completions.create(
                        model="agent/assistant",
                        messages=[{"role": "user", "content": f"hello {i}"}],
                        stream=True,
                    )
                    for chunk in stream:
                        if first is None and chunk.choices and chunk.choices[0].delta.content:
                            first = time.perf_counter()
                    assert first is not None, "the answer streamed no content"
                    return (first - started) * 1000

                def v1_whole(i: int) -> float:
                    started = time.perf_counter()
                    answer = client.chat.completions.create(
                        model="agent/assistant",
                        messages=[{"role": "user", "content": f"hello {i}"}],
                    )
                    assert answer.choices[0].message.content
                    return (time.perf_counter() - started) * 1000

                paths: dict[str, Callable[[int], float]] = {
                    "ws": over_ws,
                    "v1_stream": v1_stream,
                    "v1_whole": v1_whole,
                }
                for i in range(count + WARM_UP):
                    for name, path in paths.items():
                        elapsed = path(i)
                        if i >= WARM_UP:
                            results[name].append(elapsed)
            client.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100, help="per path")
    args = parser.parse_args(argv if argv is not None else [])
    results = measure(args.messages)
    labels = {
        "ws": "WebSocket: send -> first token",
        "v1_stream": "/v1 stream: create -> first delta",
        "v1_whole": "/v1 no stream: create -> answer",
    }
    base = statistics.median(results["ws"])
    print(f"{args.messages} messages per path, alternating; scripted model, no latency")
    print(f"{'':<38}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'p50 / ws':>10}")
    for name, values in results.items():
        p50 = statistics.median(values)
        print(
            f"{labels[name]:<38}{p50:>9.2f}{percentile(values, 0.99):>9.2f}"
            f"{max(values):>9.2f}{p50 / base:>10.2f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
