"""One trace per run: the run's span, its phases below it, and the model and tool calls
below the phase they happen in, with tokens on the model calls."""

from __future__ import annotations

import json
import time

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.observability import Tracing
from tests.conftest import Api, scripted_gateway
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools


def test_a_workflow_run_is_one_trace_with_phases_model_calls_and_tool_calls(
    settings: Settings, model: ScriptedModelServer
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = settings.model_copy(update={"ollama_url": model.url, "default_model": "scripted"})
    app = create_app(
        settings,
        models=scripted_gateway(settings, model),
        tools=sample_tools(),
        tracing=Tracing(provider),
    )
    model.enqueue(text=json.dumps({"goal": "sum", "acceptance_criteria": ["the sum is 3"]}))
    model.enqueue(text=json.dumps({"steps": [{"title": "Add", "instruction": "add 1 and 2"}]}))
    model.enqueue(tool_calls=[("add", {"a": 1, "b": 2})])
    model.enqueue(text="The sum is 3")
    verdict = {"criterion": "the sum is 3", "met": True, "quote": "The sum is 3"}
    model.enqueue(
        text=json.dumps({"passed": True, "criteria": [verdict], "failed_steps": [], "notes": ""})
    )
    with serve_in_thread(app) as url:
        api = Api(url)
        user = api.register()
        run = api.client.post("/runs", json={"goal": "add 1 and 2"}, headers=user.headers).json()
        deadline = time.monotonic() + 20
        while not any(s.name == "run" for s in exporter.get_finished_spans()):
            assert time.monotonic() < deadline, "the run's span never ended"
            time.sleep(0.05)
        api.client.close()
    spans: list[ReadableSpan] = list(exporter.get_finished_spans())
    (root,) = [s for s in spans if s.name == "run"]
    assert root.parent is None and root.attributes["run.id"] == run["id"]
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}  # one trace
    by_id = {s.context.span_id: s for s in spans}

    def parent(span: ReadableSpan) -> ReadableSpan:
        assert span.parent is not None, span.name
        return by_id[span.parent.span_id]

    phases = [s for s in spans if s.name.startswith("phase ")]
    assert sorted(s.name for s in phases) == sorted(
        ["phase spec", "phase plan", "phase execute", "phase verify"]
    )
    assert all(parent(s) is root for s in phases)
    calls = [s for s in spans if s.name == "model call"]
    assert len(calls) == 5
    assert sorted(parent(s).name for s in calls) == sorted(
        ["phase spec", "phase plan", "phase execute", "phase execute", "phase verify"]
    )
    assert all(s.attributes["gen_ai.usage.output_tokens"] > 0 for s in calls)
    assert all(s.attributes["gen_ai.request.model"] == "scripted" for s in calls)
    (tool,) = [s for s in spans if s.name == "tool add"]
    assert parent(tool).name == "phase execute"
    assert tool.attributes["tool.status"] == "finished"
