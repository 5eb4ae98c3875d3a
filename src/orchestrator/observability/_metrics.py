"""Prometheus metrics: HTTP requests, runs by status, tool calls, model tokens and times,
queue depth. Counters are fed from the run events every writer emits (no database write
and no extra query per request); the gauges are read from the database when scraped.

With `PROMETHEUS_MULTIPROC_DIR` set (prometheus-client's own variable; set it for every
API and worker process of one host, to an empty folder), each process writes its figures
there and `/metrics` adds them up.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from orchestrator.engine.events import (
    CompleteData,
    RunEventOut,
    StatusData,
    ToolData,
    UsageData,
)

SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

HTTP_REQUESTS = Counter(
    "orchestrator_http_requests", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "orchestrator_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=SECONDS,
)
RUNS = Counter("orchestrator_runs", "Runs that reached a status", ["status"])
ACTIVE_RUNS = Gauge(
    "orchestrator_active_runs",
    "Runs queued, running or waiting for an approval (when scraped)",
    ["status"],
    multiprocess_mode="mostrecent",
)
QUEUE_DEPTH = Gauge(
    "orchestrator_queue_depth",
    "Runs queued and not yet taken by a worker (when scraped)",
    multiprocess_mode="mostrecent",
)
TOOL_CALLS = Counter("orchestrator_tool_calls", "Tool calls that ended", ["tool", "status"])
TOOL_SECONDS = Histogram(
    "orchestrator_tool_call_duration_seconds", "Tool call durations", ["tool"], buckets=SECONDS
)
MODEL_TOKENS = Counter(
    "orchestrator_model_tokens", "Model tokens read (in) and written (out)", ["model", "direction"]
)
MODEL_SECONDS = Histogram(
    "orchestrator_model_call_duration_seconds", "Model call durations", ["model"], buckets=SECONDS
)
FIRST_TOKEN = Histogram(
    "orchestrator_model_time_to_first_token_seconds",
    "Time from a model call to its first streamed output",
    ["model"],
    buckets=SECONDS,
)
_FINAL_TOOL = frozenset({"finished", "failed", "denied"})


class EventMetrics:
    """Counts what a run's events say: status changes, tool calls, model usage. The
    labelled series are looked up once per model, tool and status (prometheus-client's
    `labels()` checks and locks on every call)."""

    def __init__(self) -> None:
        self._model: dict[str, tuple[Any, Any, Any, Any]] = {}
        self._tool: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._runs: dict[str, Any] = {}

    def observe(self, event: RunEventOut) -> None:
        """Update the counters for one event (deltas cost a string comparison)."""
        kind = event.type
        if kind == "token" or kind == "thinking":
            return
        data = event.data
        if isinstance(data, UsageData):
            tokens_in, tokens_out, seconds, first_token = self._model_series(data.model)
            tokens_in.inc(data.prompt_tokens)
            tokens_out.inc(data.completion_tokens)
            seconds.observe(data.seconds)
            if data.first_token_seconds is not None:
                first_token.observe(data.first_token_seconds)
        elif isinstance(data, ToolData):
            if data.status in _FINAL_TOOL:
                calls, seconds = self._tool_series(data.name, data.status)
                calls.inc()
                if data.duration_ms is not None:
                    seconds.observe(data.duration_ms / 1000)
        elif isinstance(data, StatusData | CompleteData):
            runs = self._runs.get(data.status)
            if runs is None:
                runs = self._runs[data.status] = RUNS.labels(data.status)
            runs.inc()

    def _model_series(self, model: str) -> tuple[Any, Any, Any, Any]:
        series = self._model.get(model)
        if series is None:
            series = self._model[model] = (
                MODEL_TOKENS.labels(model, "in"),
                MODEL_TOKENS.labels(model, "out"),
                MODEL_SECONDS.labels(model),
                FIRST_TOKEN.labels(model),
            )
        return series

    def _tool_series(self, tool: str, status: str) -> tuple[Any, Any]:
        series = self._tool.get((tool, status))
        if series is None:
            series = self._tool[(tool, status)] = (
                TOOL_CALLS.labels(tool, status),
                TOOL_SECONDS.labels(tool),
            )
        return series


def set_active_runs(counts: dict[str, int]) -> None:
    """The gauges read from the database at scrape time."""
    for status in ("queued", "running", "waiting"):
        ACTIVE_RUNS.labels(status).set(counts.get(status, 0))
    QUEUE_DEPTH.set(counts.get("queued", 0))


def render() -> tuple[bytes, str]:
    """The exposition text (every process's, in multi-process mode) and its media type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
