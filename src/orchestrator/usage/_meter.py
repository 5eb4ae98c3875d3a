"""Metering model calls: a run's calls become `usage` events (stored with their accounting
row); calls outside any run (evaluations) are stored as accounting rows directly. After
each call the user's token quota is checked."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.db.models import ModelUsage
from orchestrator.engine.events import UsageData
from orchestrator.engine.react import ChatCall, ModelClient, WrappedModels
from orchestrator.llm.base import Done, StreamChunk
from orchestrator.usage._quotas import Quotas


class CallSpans(Protocol):
    """Where a model call's trace span comes from (`observability.Tracing`)."""

    def model_call(self, model: str) -> Any: ...


class MeteredModels(WrappedModels):
    """Wraps the model client of one run: after each call, `emit` gets its `UsageData`
    (the run writer stores it with the accounting row), and a user with a daily token
    quota gets `QuotaExceeded` once it is used up, which ends the turn as failed."""

    def __init__(
        self,
        models: ModelClient,
        emit: Callable[[UsageData], Awaitable[object]],
        *,
        user_id: int,
        quotas: Quotas | None = None,
        token_limit: int | None = None,
        spans: CallSpans | None = None,
        clock: Callable[[], float] = time.monotonic,
        settle: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        super().__init__(models)
        self.emit = emit
        # Writes what `emit` may have deferred (a run's usage goes with its next write), so
        # that the quota check counts this call.
        self.settle = settle
        self.user_id = user_id
        self.quotas = quotas
        self.token_limit = token_limit
        self.spans = spans
        self.clock = clock
        self._default: str | None = None

    async def stream(self, call: ChatCall) -> AsyncIterator[StreamChunk]:
        """Stream the call, then report it."""
        name = call.model or await self._default_name()
        span = self.spans.model_call(name) if self.spans is not None else None
        started = self.clock()
        first: float | None = None
        prompt = completion = 0
        try:
            async with aclosing(call.send(self.models)) as chunks:  # type: ignore[type-var]
                async for chunk in chunks:
                    if isinstance(chunk, Done):
                        prompt += chunk.prompt_tokens or 0
                        completion += chunk.completion_tokens or 0
                    elif first is None:
                        first = self.clock() - started
                    yield chunk
        finally:
            if span is not None:
                span.set_attribute("gen_ai.usage.input_tokens", prompt)
                span.set_attribute("gen_ai.usage.output_tokens", completion)
                span.end()
        await self.emit(
            UsageData(
                model=name,
                prompt_tokens=prompt,
                completion_tokens=completion,
                seconds=round(self.clock() - started, 6),
                first_token_seconds=round(first, 6) if first is not None else None,
            )
        )
        if self.quotas is not None and self.token_limit is not None:
            if self.settle is not None:
                await self.settle()
            await self.quotas.check_tokens(self.user_id, self.token_limit)

    async def _default_name(self) -> str:
        """The name the client gives the default model (once per turn)."""
        if self._default is None:
            resolve = getattr(self.models, "resolve", None)
            self._default = "default"
            if resolve is not None:
                _, self._default = await resolve(None)
        return self._default


EVAL_AGENT = "(eval)"  # not a valid agent name: evaluations never mix with an agent's usage


class UsageMeter:
    """Accounts the model calls one user makes outside any run (an evaluation): each call
    is one `model_usage` row against the user, with `agent` and `eval_id` saying what made
    it, and counts against their daily token quota like a run's calls."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        quotas: Quotas,
        *,
        user_id: int,
        agent: str = EVAL_AGENT,
        eval_id: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.quotas = quotas
        self.user_id = user_id
        self.agent = agent
        self.eval_id = eval_id
        self._limit: int | None = None

    async def admit(self) -> None:
        """`QuotaExceeded` (with `reset_at`) when the user's tokens of today are used up."""
        self._limit = await self.quotas.token_limit(self.user_id)
        if self._limit is not None:
            await self.quotas.check_tokens(self.user_id, self._limit)

    def wrap(self, models: ModelClient) -> MeteredModels:
        """`models`, each call of it accounted; `QuotaExceeded` once the quota is reached
        (call `admit` first: it reads the quota in force)."""
        return MeteredModels(
            models,
            self.record,
            user_id=self.user_id,
            quotas=self.quotas,
            token_limit=self._limit,
        )

    async def record(self, data: UsageData) -> None:
        """Store one call (committed at once: a crash loses no call that finished)."""
        async with self.sessions() as db:
            db.add(
                ModelUsage(
                    eval_id=self.eval_id,
                    user_id=self.user_id,
                    agent=self.agent,
                    model=data.model[:200],
                    tokens_in=data.prompt_tokens,
                    tokens_out=data.completion_tokens,
                    seconds=data.seconds,
                )
            )
            await db.commit()
