"""Tool retrieval: an agent with many tools offers its model only the nearest few.

A small model given forty tool schemas picks badly and reads slowly. Above a threshold
(`TOOL_RETRIEVAL_THRESHOLD`), each step offers the `TOOL_RETRIEVAL_TOP_K` tools whose
name and description are nearest to the task by embedding similarity, nearest first,
then every other tool used so far in the turn (in the order the agent lists them): a
small model leans to what it reads first. Tool vectors are cached by a hash of name and
description, so a changed description is embedded again; they are kept scaled to unit
length, so that ranking a step's tools is one dot product each (a step ranked forty
384-dimension vectors in 4.1 ms with a cosine per pair, 0.7 ms with a dot product each
in Python), and stacked into one numpy matrix per tool set, so that a step's ranking is
one matrix-vector product (numpy is imported when the first matrix is built).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, ClassVar, Protocol

from orchestrator.llm.base import ToolSpec

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float64]


class PassageEmbedder(Protocol):
    """What retrieval needs of an embedder (memory's `Embedder` fits)."""

    name: str

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def embed_query(self, text: str) -> list[float]: ...


def _unit(vector: Sequence[float]) -> list[float]:
    """`vector` scaled to length 1 (a zero vector stays zero): cosines become dot products."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return [x / norm for x in vector] if norm else list(vector)


def _stack(vectors: Sequence[float] | Sequence[Sequence[float]]) -> Matrix:
    import numpy as np  # here, not at start-up: a server that never ranks tools never loads it

    return np.array(vectors, dtype=np.float64)


def tool_text(spec: ToolSpec) -> str:
    """What is embedded of a tool: its name in words, then its description."""
    return f"{spec.name.replace('_', ' ')}: {spec.description}"


class ToolRetriever:
    """Picks the tools to offer at each step.

    Tool vectors are kept for the whole process (keyed by embedder, name and description),
    so a second runtime or retriever in the same process embeds nothing again."""

    # sha256(embedder, name, description) -> unit vector
    _vectors: ClassVar[dict[str, list[float]]] = {}
    _keys: ClassVar[dict[tuple[str, str, str], str]] = {}  # (embedder, name, description) -> key
    _matrices: ClassVar[dict[tuple[str, ...], Matrix]] = {}  # keys -> their vectors, one a row

    def __init__(self, embedder: PassageEmbedder, *, threshold: int = 12, top_k: int = 6) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.top_k = top_k
        self._queries: dict[str, Matrix] = {}  # the last few tasks' vectors
        self.embedded = 0  # tool texts this retriever embedded (the cache's misses)
        self._embedding: asyncio.Lock | None = None

    def _key(self, spec: ToolSpec) -> str:
        parts = (self.embedder.name, spec.name, spec.description)
        key = self._keys.get(parts)
        if key is None:
            key = hashlib.sha256("\0".join(parts).encode()).hexdigest()
            self._keys[parts] = key
        return key

    async def select(
        self, task: str, tools: Sequence[ToolSpec], used: Collection[str] = ()
    ) -> list[ToolSpec]:
        """The tools to offer for `task`: all of them up to the threshold (in their order),
        else the top k by similarity, nearest first, then the others in `used`."""
        if len(tools) <= self.threshold or not task.strip():
            return list(tools)
        keys = [self._key(t) for t in tools]
        if any(key not in self._vectors for key in keys):
            # Turns that start together after a restart embed the tools once between
            # them, not once each (one after another on the embedder's thread).
            self._embedding = self._embedding or asyncio.Lock()
            async with self._embedding:
                missing = {self._key(t): t for t in tools if self._key(t) not in self._vectors}
                if missing:
                    texts = [tool_text(t) for t in missing.values()]
                    vectors = await self.embedder.embed_passages(texts)
                    self._vectors.update(zip(missing, map(_unit, vectors), strict=True))
                    self._matrices.clear()
                    self.embedded += len(missing)
        query = self._queries.get(task)
        if query is None:
            query = _stack(_unit(await self.embedder.embed_query(task)))
            if len(self._queries) > 64:
                self._queries.clear()
            self._queries[task] = query
        matrix = self._matrix(tuple(keys))
        # A stable sort of the negated scores: ties keep the agent's order of its tools.
        ranked = (-(matrix @ query)).argsort(kind="stable")[: self.top_k].tolist()
        nearest = [tools[i] for i in ranked]
        kept = {t.name for t in nearest}
        return nearest + [t for t in tools if t.name in used and t.name not in kept]

    def _matrix(self, keys: tuple[str, ...]) -> Matrix:
        """The vectors of `keys`, one a row (kept per tool set: agents reuse theirs)."""
        matrix = self._matrices.get(keys)
        if matrix is None:
            if len(self._matrices) > 64:
                self._matrices.clear()
            matrix = self._matrices[keys] = _stack([self._vectors[key] for key in keys])
        return matrix
