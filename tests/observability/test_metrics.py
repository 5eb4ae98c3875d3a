"""`/metrics`: HTTP requests, runs by status, tool calls, model tokens and times, queue
depth; a bearer METRICS_TOKEN or loopback callers only; several processes add up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from tests.conftest import Api, scripted_gateway
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:
    return float(samples.get((name, tuple(sorted(labels.items()))), 0.0))


def test_metrics_count_requests_runs_tools_and_tokens(
    settings: Settings, model: ScriptedModelServer
) -> None:
    settings = settings.model_copy(update={"ollama_url": model.url, "default_model": "scripted"})
    app = create_app(settings, models=scripted_gateway(settings, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        user = api.register()
        before = _samples(httpx.get(f"{url}/metrics").text)
        model.enqueue(tool_calls=[("add", {"a": 1, "b": 2})])
        model.enqueue(text="three")
        assert api.client.post("/chat", json={"message": "1+2"}, headers=user.headers).is_success
        response = httpx.get(f"{url}/metrics")
        api.client.close()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert (
        grew("orchestrator_http_requests_total", method="POST", route="/api/v1/chat", status="200")
        == 1
    )
    assert grew("orchestrator_runs_total", status="succeeded") == 1
    assert grew("orchestrator_tool_calls_total", tool="add", status="finished") == 1
    assert grew("orchestrator_tool_call_duration_seconds_count", tool="add") == 1
    assert grew("orchestrator_model_tokens_total", model="scripted", direction="out") > 0
    assert grew("orchestrator_model_tokens_total", model="scripted", direction="in") > 0
    assert grew("orchestrator_model_call_duration_seconds_count", model="scripted") == 2
    assert grew("orchestrator_model_time_to_first_token_seconds_count", model="scripted") == 2
    assert ("orchestrator_queue_depth", ()) in after
    assert _value(after, "orchestrator_active_runs", status="running") == 0


def test_metrics_want_the_token_when_one_is_set(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": "scrape-secret-123"}))
    with serve_in_thread(app) as url:
        assert httpx.get(f"{url}/metrics").status_code == 401
        wrong = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
        right = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer scrape-secret-123"})
        assert right.status_code == 200 and "orchestrator_http_requests_total" in right.text


def test_metrics_refuse_a_remote_caller_without_a_token(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app, client=("203.0.113.7", 40000)) as remote:
        refused = remote.get("/metrics")
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    with TestClient(app, client=("127.0.0.1", 40000)) as local:
        assert local.get("/metrics").status_code == 200


def test_metrics_off_answers_404(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"metrics": False}))) as client:
        assert client.get("/metrics").status_code == 404


COUNT_ONE_TOOL_CALL = """
from datetime import UTC, datetime
from orchestrator.engine.events import ToolData, make_event
from orchestrator.observability import EventMetrics
call = ToolData(call_id="c", name="add", status="finished", duration_ms=5.0)
EventMetrics().observe(make_event(call, run_id="r", seq=1, timestamp=datetime.now(UTC)))
"""
RENDER = "from orchestrator.observability import render; print(render()[0].decode())"


def test_multi_process_mode_adds_up_every_processs_counts(tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for _ in range(2):  # two processes (as two workers would), each one tool call
        subprocess.run([sys.executable, "-c", COUNT_ONE_TOOL_CALL], env=env, check=True)
    shown = subprocess.run(
        [sys.executable, "-c", RENDER], env=env, check=True, capture_output=True, text=True
    ).stdout
    samples = _samples(shown)
    assert _value(samples, "orchestrator_tool_calls_total", tool="add", status="finished") == 2
