"""Tool retrieval: an agent with many tools offers its model only the nearest few.

A small model given forty tool schemas picks badly and reads slowly. Above a threshold
(`TOOL_RETRIEVAL_THRESHOLD`), each step offers the `TOOL_RETRIEVAL_TOP_K` tools whose
name and description are nearest to the task by embedding similarity, nearest first,
then every other tool used so far in the turn (in the order the agent lists them): a
small model leans to what it reads first. Tool vectors are cached by a
hash of name and description, so a changed description is embedded again.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Collection, Sequence
from typing import ClassVar, Protocol

from orchestrator.llm.base import ToolSpec


class PassageEmbedder(Protocol):
    """What retrieval needs of an embedder (memory's `Embedder` fits)."""

    name: str

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_query(self, text: str) -> list[float]: ...


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def tool_text(spec: ToolSpec) -> str:
    """What is embedded of a tool: its name in words, then its description."""
    return f"{spec.name.replace('_', ' ')}: {spec.description}"


class ToolRetriever:
    """Picks the tools to offer at each step.

    Tool vectors are kept for the whole process (keyed by embedder, name and description),
    so a second runtime or retriever in the same process embeds nothing again."""

    _vectors: ClassVar[dict[str, list[float]]] = {}  # sha256(embedder, name, description) -> vector

    def __init__(self, embedder: PassageEmbedder, *, threshold: int = 12, top_k: int = 6) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.top_k = top_k
        self._queries: dict[str, list[float]] = {}  # the last few tasks' vectors
        self.embedded = 0  # tool texts this retriever embedded (the cache's misses)
        self._embedding: asyncio.Lock | None = None

    def _key(self, spec: ToolSpec) -> str:
        raw = f"{self.embedder.name}\0{spec.name}\0{spec.description}"
        return hashlib.sha256(raw.encode()).hexdigest()

    async def select(
        self, task: str, tools: Sequence[ToolSpec], used: Collection[str] = ()
    ) -> list[ToolSpec]:
        """The tools to offer for `task`: all of them up to the threshold (in their order),
        else the top k by similarity, nearest first, then the others in `used`."""
        if len(tools) <= self.threshold or not task.strip():
            return list(tools)
        if any(self._key(t) not in self._vectors for t in tools):
            # Turns that start together after a restart embed the tools once between
            # them, not once each (one after another on the embedder's thread).
            self._embedding = self._embedding or asyncio.Lock()
            async with self._embedding:
                missing = {self._key(t): t for t in tools if self._key(t) not in self._vectors}
                if missing:
                    texts = [tool_text(t) for t in missing.values()]
                    vectors = await self.embedder.embed_passages(texts)
                    self._vectors.update(zip(missing, vectors, strict=True))
                    self.embedded += len(missing)
        query = self._queries.get(task)
        if query is None:
            query = await self.embedder.embed_query(task)
            if len(self._queries) > 64:
                self._queries.clear()
            self._queries[task] = query
        ranked = sorted(tools, key=lambda t: -_cosine(query, self._vectors[self._key(t)]))
        nearest = ranked[: self.top_k]
        kept = {t.name for t in nearest}
        return nearest + [t for t in tools if t.name in used and t.name not in kept]
