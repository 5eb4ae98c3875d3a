"""OpenTelemetry traces: a span per run, and below it a span per phase, model call (with
its tokens) and tool call. Exported over OTLP (gRPC) when `OTEL_EXPORTER_OTLP_ENDPOINT`
is set; tests hand in a provider with an in-memory exporter. Without a provider every
method costs one `is None` test.

The exporter pulls in gRPC and protobuf (about 15 MB): it is built with the first span,
not at start-up, so an idle server never loads it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from orchestrator.core.config import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer


class Tracing:
    """Makes the spans of runs; one per process, from `Tracing.from_settings`."""

    def __init__(
        self,
        provider: TracerProvider | None = None,
        *,
        make_provider: Callable[[], TracerProvider] | None = None,
    ) -> None:
        """`provider` at once, or `make_provider` called when the first span is made."""
        self.provider = provider
        self._make_provider = make_provider
        self._tracer: Tracer | None = provider.get_tracer("orchestrator") if provider else None

    @classmethod
    def from_settings(cls, settings: Settings) -> Tracing:
        """Exporting to OTEL_EXPORTER_OTLP_ENDPOINT, or off when it (or TRACING) is unset."""
        if not settings.tracing or not settings.otel_exporter_otlp_endpoint:
            return cls(None)
        endpoint = settings.otel_exporter_otlp_endpoint

        def otlp() -> TracerProvider:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            provider = TracerProvider(resource=Resource.create({"service.name": "orchestrator"}))
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
            return provider

        return cls(make_provider=otlp)

    def _active(self) -> Tracer | None:
        """The tracer, its provider built on the first call when it is made lazily."""
        if self._tracer is None and self._make_provider is not None:
            make, self._make_provider = self._make_provider, None
            self.provider = make()
            self._tracer = self.provider.get_tracer("orchestrator")
        return self._tracer

    @property
    def enabled(self) -> bool:
        return self._tracer is not None or self._make_provider is not None

    @contextmanager
    def run(self, run_id: str, **attributes: Any) -> Iterator[Span | None]:
        """The run's span, current while its work goes on (phases and calls go below)."""
        tracer = self._active()
        if tracer is None:
            yield None
            return
        attrs = {"run.id": run_id, **{f"run.{k}": v for k, v in attributes.items() if v}}
        with tracer.start_as_current_span("run", attributes=attrs) as span:
            yield span

    @contextmanager
    def phase(self, name: str) -> Iterator[Span | None]:
        """A workflow phase's span, current while it goes on."""
        tracer = self._active()
        if tracer is None:
            yield None
            return
        with tracer.start_as_current_span(f"phase {name}", attributes={"phase": name}) as s:
            yield s

    def model_call(self, model: str) -> Span | None:
        """A model call's span (the caller ends it); not made current, because the call
        streams through a generator that yields to its consumer."""
        tracer = self._active()
        if tracer is None:
            return None
        return tracer.start_span(
            "model call",
            attributes={"gen_ai.request.model": model, "gen_ai.system": "orchestrator"},
        )

    def tool_call(self, tool: str, call_id: str) -> Span | None:
        """A tool call's span (`end_tool` ends it)."""
        tracer = self._active()
        if tracer is None:
            return None
        return tracer.start_span(
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
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, status))
        span.end()

    def shutdown(self) -> None:
        """Flush what is left to the exporter."""
        if self.provider is not None:
            self.provider.shutdown()
