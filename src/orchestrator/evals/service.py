"""Wiring of the suite for the command line: the models of the database's connections
(resolved as the server resolves them, `NAME@CONNECTION` included), tool retrieval (the
offline embedder) and repair as the settings and flags say, and the results stored where
`/models/evals` keeps them, so the Models page shows command-line runs too."""

from __future__ import annotations

from orchestrator.core.config import Settings
from orchestrator.core.errors import ModelNotFound
from orchestrator.db.models import ModelEval
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.engine.retrieval import PassageEmbedder, ToolRetriever
from orchestrator.evals._runner import EvalReport, EvalRunner
from orchestrator.evals._store import EvalBook
from orchestrator.llm.connections import ConnectionStore
from orchestrator.llm.gateway import ModelGateway
from orchestrator.memory import Embedder, default_embedder


def retriever_for(settings: Settings, embedder: PassageEmbedder) -> ToolRetriever:
    """Retrieval with TOOL_RETRIEVAL_THRESHOLD and TOOL_RETRIEVAL_TOP_K."""
    return ToolRetriever(
        embedder,
        threshold=settings.tool_retrieval_threshold,
        top_k=settings.tool_retrieval_top_k,
    )


class LocalEvaluation:
    """One command-line evaluation: a runner over the database's connections and the
    book its result goes into. Close it (it holds a database engine, model clients and
    perhaps the embedder)."""

    def __init__(self, settings: Settings, *, retrieval: bool = True, repair: bool = True) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        sessions = create_session_factory(self.engine)
        self.models = ModelGateway(settings, connections=ConnectionStore(settings, sessions))
        self._embedder: Embedder | None = (
            default_embedder(settings, self.models.embed) if retrieval else None
        )
        retriever = retriever_for(settings, self._embedder) if self._embedder else None
        self.runner = EvalRunner(settings, self.models, retriever=retriever, repair=repair)
        self.book = EvalBook(settings, sessions, self.models, retriever)

    async def check_model(self, model: str) -> None:
        """`ModelNotFound` unless a connection serves `model` (its name or its id)."""
        models = await self.models.list_models()
        if model not in {name for m in models for name in (m.name, m.id)}:
            available = ", ".join(m.id for m in models) or "none"
            raise ModelNotFound(
                f"no model named {model!r} is available (available: {available})", model=model
            )

    async def begin(self, model: str) -> ModelEval:
        """The model's stored row, marked running."""
        return await self.book.begin(
            model,
            retrieval=self.runner.retriever is not None,
            repair=self.runner.repair,
            user_id=None,
        )

    async def finish(self, row: ModelEval, report: EvalReport | None, error: str | None) -> None:
        await self.book.finish(row.id, report, error)

    async def aclose(self) -> None:
        if self._embedder is not None:
            await self._embedder.aclose()
        await self.models.aclose()
        await self.engine.dispose()
