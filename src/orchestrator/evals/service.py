"""Wiring of the suite for the command line: the models of the database's connections
(resolved as the server resolves them, `NAME@CONNECTION` included), tool retrieval (the
offline embedder) and repair as the settings and flags say, and the results stored where
`/models/evals` keeps them, so the Models page shows command-line runs too."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator.core.config import Settings
from orchestrator.core.errors import ModelNotFound, NotFound
from orchestrator.db.models import ModelEval, User
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.engine.retrieval import PassageEmbedder, ToolRetriever
from orchestrator.evals._runner import EvalReport, EvalRunner
from orchestrator.evals._store import EvalBook
from orchestrator.llm.connections import ConnectionStore
from orchestrator.llm.gateway import ModelGateway
from orchestrator.memory import Embedder, default_embedder
from orchestrator.usage import Quotas, UsageMeter


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
        self.sessions = sessions = create_session_factory(self.engine)
        self.models = ModelGateway(settings, connections=ConnectionStore(settings, sessions))
        self._embedder: Embedder | None = (
            default_embedder(settings, self.models.embed) if retrieval else None
        )
        retriever = retriever_for(settings, self._embedder) if self._embedder else None
        self.runner = EvalRunner(settings, self.models, retriever=retriever, repair=repair)
        self.book = EvalBook(settings, sessions, self.models, retriever)
        self.meter: UsageMeter | None = None

    async def account_to(self, username: str | None) -> bool:
        """Count the model calls in the usage and token quota of `username` (None: the first
        admin): `QuotaExceeded` when that quota is used up already, `NotFound` for no such
        active account. False (not accounted) with accounting off, or when no account
        exists yet and none was named."""
        if not self.settings.usage_accounting:
            return False
        async with self.sessions() as db:
            query = select(User.id).where(User.is_active)
            if username:
                query = query.where(User.username == username)
            else:
                query = query.where(User.role == "admin")
            user_id = await db.scalar(query.order_by(User.id).limit(1))
        if user_id is None:
            if username:
                raise NotFound(f"no active user {username!r}")
            return False
        meter = UsageMeter(self.sessions, Quotas(self.settings, self.sessions), user_id=user_id)
        await meter.admit()  # before the stored row is touched, as POST /models/evals
        self.meter = self.runner.meter = meter
        return True

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
        row = await self.book.begin(
            model,
            retrieval=self.runner.retriever is not None,
            repair=self.runner.repair,
            user_id=self.meter.user_id if self.meter is not None else None,
        )
        if self.meter is not None:
            self.meter.eval_id = row.id
        return row

    async def finish(self, row: ModelEval, report: EvalReport | None, error: str | None) -> None:
        await self.book.finish(row.id, report, error)

    async def aclose(self) -> None:
        if self._embedder is not None:
            await self._embedder.aclose()
        await self.models.aclose()
        await self.engine.dispose()
