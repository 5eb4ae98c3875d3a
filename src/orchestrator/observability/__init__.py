"""Seeing inside the platform: Prometheus metrics, OpenTelemetry traces, request ids and
log formatting with secrets masked."""

from orchestrator.observability._logging import (
    JsonFormatter,
    TextFormatter,
    configure_logging,
    mask_secrets,
)
from orchestrator.observability._metrics import EventMetrics, render, set_active_runs
from orchestrator.observability._requests import RequestObservation, request_id
from orchestrator.observability._tracing import Tracing

__all__ = [
    "EventMetrics",
    "JsonFormatter",
    "RequestObservation",
    "TextFormatter",
    "Tracing",
    "configure_logging",
    "mask_secrets",
    "render",
    "request_id",
    "set_active_runs",
]
