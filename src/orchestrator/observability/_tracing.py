"""OpenTelemetry traces: a span per run, and below it a span per phase, model call (with
its tokens) and tool call. Exported over OTLP (gRPC) when `OTEL_EXPORTER_OTLP_ENDPOINT`
is set; tests hand in a provider with an in-memory exporter. Without a provider every
method costs one `is None` test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from orchestrator.core.config import Settings


class Tracing:
    """Makes the spans of runs; one per process, from `Tracing.from_settings`."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider
        self._tracer: Tracer | None = provider.get_tracer("orchestrator") if provider else None

    @classmethod
    def from_settings(cls, settings: Settings) -> Tracing:
        """Exporting to OTEL_EXPORTER_OTLP_ENDPOINT, or off when it (or TRACING) is unset."""
        if not settings.tracing or not settings.otel_exporter_otlp_endpoint:
            return cls(None)
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider = TracerProvider(resource=Resource.create({"service.name": "orchestrator"}))
        exporter = OTLPSpanExporter(endpoint=settings.otel_exporter_otlp_endpoint)
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    @contextmanager
    def run(self, run_id: str, **attributes: Any) -> Iterator[Span | None]:
        """The run's span, current while its work goes on (phases and calls go below)."""
        if self._tracer is None:
            yield None
            return
        attrs = {"run.id": run_id, **{f"run.{k}": v for k, v in attributes.items() if v}}
        with self._tracer.start_as_current_span("run", attributes=attrs) as span:
            yield span

    @contextmanager
    def phase(self, name: str) -> Iterator[Span | None]:
        """A workflow phase's span, current while it goes on."""
        if self._tracer is None:
            yield None
            return
        with self._tracer.start_as_current_span(f"phase {name}", attributes={"phase": name}) as s:
            yield s

    def model_call(self, model: str) -> Span | None:
        """A model call's span (the caller ends it); not made current, because the call
        streams through a generator that yields to its consumer."""
        if self._tracer is None:
            return None
        return self._tracer.start_span(
            "model call",
            attributes={"gen_ai.request.model": model, "gen_ai.system": "orchestrator"},
        )

    def tool_call(self, tool: str, call_id: str) -> Span | None:
        """A tool call's span (`end_tool` ends it)."""
        if self._tracer is None:
            return None
        return self._tracer.start_span(
            f"tool {tool}", attributes={"tool.name": tool, "tool.call_id": call_id}
        )

    @staticmethod
    def end_tool(span: Span | None, status: str, duration_ms: float | None) -> None:
        if span is None:
            return
        span.set_attribute("tool.status", status)
        if duration_ms is not None:
            span.set_attribute("tool.duration_ms", duration_ms)
        if status != "finished":
            span.set_status(Status(StatusCode.ERROR, status))
        span.end()

    def shutdown(self) -> None:
        """Flush what is left to the exporter."""
        if self.provider is not None:
            self.provider.shutdown()
