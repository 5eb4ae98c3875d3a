"""A run's model client: every call becomes a `usage` event, then the token quota is checked."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, Protocol

from orchestrator.engine.events import UsageData
from orchestrator.engine.react import ModelClient
from orchestrator.llm.base import (
    ChatMessage,
    Done,
    GenerationOptions,
    StreamChunk,
    ToolSpec,
)
from orchestrator.usage._quotas import Quotas


class CallSpans(Protocol):
    """Where a model call's trace span comes from (`observability.Tracing`)."""

    def model_call(self, model: str) -> Any: ...


class MeteredModels:
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
    ) -> None:
        self.models = models
        self.emit = emit
        self.user_id = user_id
        self.quotas = quotas
        self.token_limit = token_limit
        self.spans = spans
        self.clock = clock
        self._default: str | None = None

    def __getattr__(self, name: str) -> Any:  # list_models, resolve...: the wrapped client's
        return getattr(self.models, name)

    async def chat(
        self,
        model: str | None,
        messages: list[ChatMessage],
        tools: list[ToolSpec] | None = None,
        *,
        think: bool | None = None,
        json_schema: dict[str, Any] | None = None,
        options: GenerationOptions | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Stream the call, then report it."""
        name = model or await self._default_name()
        span = self.spans.model_call(name) if self.spans is not None else None
        started = self.clock()
        first: float | None = None
        prompt = completion = 0
        try:
            stream = self.models.chat(
                model, messages, tools, think=think, json_schema=json_schema, options=options
            )
            async with aclosing(stream) as chunks:  # type: ignore[type-var]
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
            await self.quotas.check_tokens(self.user_id, self.token_limit)

    async def _default_name(self) -> str:
        """The name the client gives the default model (once per turn)."""
        if self._default is None:
            resolve = getattr(self.models, "resolve", None)
            self._default = "default"
            if resolve is not None:
                _, self._default = await resolve(None)
        return self._default
