"""Pulling a model onto an Ollama connection, relaying Ollama's progress stream.

`start_pull` reads Ollama's `/api/pull` stream (through the official client) up to its
first real progress line, so that an unreachable server or a model that does not exist
is an error before anything is sent back; the rest is relayed as `PullProgress`, ending
with status "success" or "error".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pydantic

from orchestrator.core.errors import LLMError, NotFound, ProviderUnavailable
from orchestrator.core.lazy import lazy_module
from orchestrator.llm.connections._models import ConnectionSpec, PullProgress
from orchestrator.llm.ollama import shared_ssl_context

if TYPE_CHECKING:
    import ollama
else:
    ollama = lazy_module("ollama")


def _read_errors() -> tuple[type[BaseException], ...]:
    """What a pull may raise while reading (a function: the SDK loads with the first pull)."""
    return (
        ollama.ResponseError,
        httpx.HTTPError,
        ConnectionError,
        json.JSONDecodeError,
        pydantic.ValidationError,
    )


class ModelNotPullable(NotFound):
    """The registry has no such model."""

    code = "model_not_found"


@dataclass
class PullStream:
    """A pull under way: the progress read so far, then the rest."""

    head: list[PullProgress]
    rest: AsyncIterator[PullProgress]
    client: ollama.AsyncClient

    async def lines(self) -> AsyncIterator[PullProgress]:
        """Every progress line; the last says "success" or "error" (never raises)."""
        try:
            for item in self.head:
                yield item
            if self.head and self.head[-1].status in ("success", "error"):
                return
            try:
                async for item in self.rest:
                    yield item
            except _read_errors() as exc:
                yield PullProgress(status="error", error=_reason(exc))
        finally:
            with suppress(Exception):
                await self.rest.aclose()  # type: ignore[attr-defined]
            await self.client.close()  # type: ignore[no-untyped-call]


async def start_pull(
    spec: ConnectionSpec, model: str, *, first_progress_seconds: float = 30.0
) -> PullStream:
    """Begin pulling `model`; raises `ModelNotPullable`, `ProviderUnavailable` or
    `LLMError` when Ollama refuses before any download starts."""
    headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
    client = ollama.AsyncClient(
        host=spec.base_url,
        timeout=httpx.Timeout(600.0, connect=5.0),
        verify=shared_ssl_context(),
        headers=headers,
    )
    where = f"Ollama at {spec.base_url}"
    head: list[PullProgress] = []
    rest: AsyncIterator[PullProgress] | None = None
    try:
        rest = _progress(client, model)
        async with asyncio.timeout(first_progress_seconds):
            async for item in rest:
                head.append(item)
                if item.status != "pulling manifest":
                    break
    except TimeoutError:
        pass  # the registry is slow: what came so far is sent, the rest follows
    except _read_errors() as exc:
        await client.close()  # type: ignore[no-untyped-call]
        reason = _reason(exc)
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | ConnectionError):
            raise ProviderUnavailable(f"cannot reach {where}: {reason}") from exc
        if "file does not exist" in reason or "not found" in reason:
            raise ModelNotPullable(
                f"{where} found no model {model!r} to pull ({reason})", model=model
            ) from exc
        raise LLMError(f"{where} could not pull {model!r}: {reason}") from exc
    assert rest is not None
    return PullStream(head, rest, client)


async def _progress(client: ollama.AsyncClient, model: str) -> AsyncIterator[PullProgress]:
    stream = await client.pull(model, stream=True)
    async for part in stream:
        yield PullProgress(
            status=part.status or "",
            digest=part.digest,
            total=part.total,
            completed=part.completed,
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ollama.ResponseError):
        return exc.error[:300]
    return (str(exc) or type(exc).__name__)[:300]
