"""Wiring of the suite for the command line and the API: a runner over the model gateway,
with tool retrieval (the offline embedder) and repair as the settings and flags say."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from orchestrator.core.config import Settings
from orchestrator.engine.react import ModelClient
from orchestrator.engine.retrieval import PassageEmbedder, ToolRetriever
from orchestrator.evals._runner import EvalRunner
from orchestrator.llm.gateway import ModelGateway
from orchestrator.memory import default_embedder


def retriever_for(settings: Settings, embedder: PassageEmbedder) -> ToolRetriever:
    """Retrieval with TOOL_RETRIEVAL_THRESHOLD and TOOL_RETRIEVAL_TOP_K."""
    return ToolRetriever(
        embedder,
        threshold=settings.tool_retrieval_threshold,
        top_k=settings.tool_retrieval_top_k,
    )


def build_runner(
    settings: Settings,
    *,
    retrieval: bool = True,
    repair: bool = True,
    models: ModelClient | None = None,
    embedder: PassageEmbedder | None = None,
) -> tuple[EvalRunner, Callable[[], Awaitable[None]]]:
    """A runner and the function that releases what it opened (gateway, embedder)."""
    gateway = ModelGateway(settings) if models is None else None
    client: ModelClient = models if models is not None else gateway  # type: ignore[assignment]
    own_embedder = None
    if retrieval and embedder is None:
        embed = gateway.embed if gateway is not None else _no_embed
        embedder = own_embedder = default_embedder(settings, embed)
    retriever = retriever_for(settings, embedder) if retrieval and embedder else None

    async def close() -> None:
        if own_embedder is not None:
            await own_embedder.aclose()
        if gateway is not None:
            await gateway.aclose()

    return EvalRunner(settings, client, retriever=retriever, repair=repair), close


async def _no_embed(model: str, texts: list[str]) -> list[list[float]]:
    raise RuntimeError("EMBEDDING_MODEL needs the model gateway")
