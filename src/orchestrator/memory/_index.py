"""The vector index: vectors keyed by memory id, in one collection per user and per
embedder ("space"), so that vectors of different models never mix and a search cannot
reach another user's vectors.

Why a collection per user rather than one collection filtered by a `user_id` field:
at 100,000 vectors a Chroma query took 2.4 ms unfiltered and 83 ms with a `where`
filter selecting one user's tenth, and the boundary is structural rather than a
filter every query must remember.

`ChromaIndex` is embedded (`DATA_DIR/memory`) or a Chroma server (`CHROMA_URL`). Chroma
is only ever handed vectors: collections have no embedding function, so it never
fetches a model of its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx

from orchestrator.core.config import Settings
from orchestrator.core.errors import MemoryUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
_PREFIX = "memory-"


class VectorIndex(Protocol):
    """Where memory vectors live, kept apart per user."""

    async def upsert(
        self, space: str, user_id: int, ids: Sequence[str], vectors: Sequence[Sequence[float]]
    ) -> None:
        """Store or replace one user's vectors."""
        ...

    async def query(
        self, space: str, user_id: int, vector: Sequence[float], *, limit: int
    ) -> list[tuple[str, float]]:
        """The user's nearest ids with their cosine similarity, best first."""
        ...

    async def delete(self, space: str, user_id: int, ids: Sequence[str]) -> None:
        """Remove some of a user's vectors (missing ids are ignored)."""
        ...

    async def ids(self, space: str) -> list[tuple[int, str]]:
        """Every (user id, memory id) in the space."""
        ...

    async def count(self, space: str) -> int:
        """How many vectors the space holds, all users together."""
        ...

    async def spaces(self) -> list[str]:
        """The spaces (embedder names) that exist."""
        ...

    async def drop(self, space: str) -> None:
        """Delete a whole space, every user's part of it."""
        ...


def collection_name(space: str, user_id: int, prefix: str = _PREFIX) -> str:
    """A valid Chroma collection name for a user's part of a space, unique per pair."""
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", space).strip("-._")[:40] or "space"
    digest = hashlib.sha256(space.encode()).hexdigest()[:10]
    return f"{prefix}{slug}-{digest}-u{user_id}"


class ChromaIndex:
    """A `VectorIndex` on ChromaDB; blocking calls run in threads, writes one at a time."""

    def __init__(
        self, *, path: Path | None = None, url: str | None = None, prefix: str = _PREFIX
    ) -> None:
        if (path is None) == (url is None):
            raise ValueError("give exactly one of path (embedded) or url (server)")
        self.path = path
        self.url = url
        # Collections of other owners (knowledge bases) share a server under their prefix.
        self.prefix = prefix
        self._client: Any = None
        self._collections: dict[tuple[str, int], Any] = {}
        self._open_lock = threading.Lock()
        self._write_lock = threading.Lock()  # Chroma's embedded writer is not meant to race

    @classmethod
    def from_settings(
        cls, settings: Settings, *, folder: str = "memory", prefix: str = _PREFIX
    ) -> ChromaIndex:
        """A server client when `CHROMA_URL` is set, else embedded in `DATA_DIR/<folder>`."""
        if settings.chroma_url:
            return cls(url=settings.chroma_url, prefix=prefix)
        return cls(path=settings.data_dir / folder, prefix=prefix)

    # -- plumbing ---------------------------------------------------------------------
    def _connect(self) -> Any:
        with self._open_lock:
            if self._client is None:
                # Imported here: chromadb takes seconds to import, and a process that
                # never touches memory should not pay for it.
                import chromadb
                from chromadb.config import Settings as ChromaSettings

                options = ChromaSettings(anonymized_telemetry=False)
                if self.url is not None:
                    parts = urlsplit(self.url)
                    ssl = parts.scheme == "https"
                    self._client = chromadb.HttpClient(
                        host=parts.hostname or "localhost",
                        port=parts.port or (443 if ssl else 8000),
                        ssl=ssl,
                        settings=options,
                    )
                else:
                    assert self.path is not None
                    self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
                    self._client = chromadb.PersistentClient(path=str(self.path), settings=options)
            return self._client

    def _collection(self, space: str, user_id: int, *, create: bool = True) -> Any:
        """The user's collection in `space`; None when absent and `create` is false."""
        found = self._collections.get((space, user_id))
        if found is None:
            client = self._connect()
            name = collection_name(space, user_id, self.prefix)
            if create:
                found = client.get_or_create_collection(
                    name,
                    embedding_function=None,  # we always pass vectors: never a default model
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"embedder": space, "user_id": user_id},
                )
            else:
                from chromadb.errors import NotFoundError

                try:
                    found = client.get_collection(name, embedding_function=None)
                except NotFoundError:
                    return None  # a user who never kept anything: no empty collection made
            self._collections[(space, user_id)] = found
        return found

    def _space_collections(self, space: str) -> list[Any]:
        return [
            item
            for item in self._connect().list_collections()
            if item.name.startswith(self.prefix) and (item.metadata or {}).get("embedder") == space
        ]

    async def _run(self, call: Callable[[], T]) -> T:
        """Run a blocking Chroma call in a thread; its failures become `MemoryUnavailable`."""

        def connected() -> T:
            self._connect()  # in the thread too: the first import of chromadb takes seconds
            return call()

        try:
            return await asyncio.to_thread(connected)
        except Exception as exc:
            if not isinstance(exc, _chroma_errors()):
                raise
            where = self.url or str(self.path)
            log.warning("vector store at %s failed: %s", where, exc)
            raise MemoryUnavailable(f"the memory store failed: {exc}") from exc

    # -- VectorIndex --------------------------------------------------------------------
    async def upsert(
        self, space: str, user_id: int, ids: Sequence[str], vectors: Sequence[Sequence[float]]
    ) -> None:
        """Store or replace one user's vectors."""
        if not ids:
            return

        def call() -> None:
            with self._write_lock:
                self._collection(space, user_id).upsert(
                    ids=list(ids), embeddings=[list(v) for v in vectors]
                )

        await self._run(call)

    async def query(
        self, space: str, user_id: int, vector: Sequence[float], *, limit: int
    ) -> list[tuple[str, float]]:
        """The user's nearest ids with their cosine similarity, best first."""

        def call() -> list[tuple[str, float]]:
            collection = self._collection(space, user_id, create=False)
            if collection is None:
                return []
            found = collection.query(
                query_embeddings=[list(vector)], n_results=limit, include=["distances"]
            )
            ids = found["ids"][0] if found["ids"] else []
            distances = found["distances"][0] if found["distances"] else []
            return [(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=True)]

        return await self._run(call)

    async def delete(self, space: str, user_id: int, ids: Sequence[str]) -> None:
        """Remove some of a user's vectors (missing ids are ignored)."""
        if not ids:
            return

        def call() -> None:
            with self._write_lock:
                collection = self._collection(space, user_id, create=False)
                if collection is not None:
                    collection.delete(ids=list(ids))

        await self._run(call)

    async def ids(self, space: str) -> list[tuple[int, str]]:
        """Every (user id, memory id) in the space."""

        def call() -> list[tuple[int, str]]:
            pairs: list[tuple[int, str]] = []
            for item in self._space_collections(space):
                user_id = int((item.metadata or {})["user_id"])
                pairs += [(user_id, i) for i in item.get(include=[])["ids"]]
            return pairs

        return await self._run(call)

    async def count(self, space: str) -> int:
        """How many vectors the space holds, all users together."""
        return await self._run(
            lambda: sum(int(item.count()) for item in self._space_collections(space))
        )

    async def spaces(self) -> list[str]:
        """The spaces (embedder names) that exist."""

        def call() -> list[str]:
            names = {
                str((item.metadata or {}).get("embedder"))
                for item in self._connect().list_collections()
                if item.name.startswith(self.prefix)
            }
            return sorted(names)

        return await self._run(call)

    async def drop(self, space: str) -> None:
        """Delete a whole space, every user's part of it."""

        def call() -> None:
            with self._write_lock:
                for key in [k for k in self._collections if k[0] == space]:
                    del self._collections[key]
                for item in self._space_collections(space):
                    self._connect().delete_collection(item.name)

        await self._run(call)


def _chroma_errors() -> tuple[type[Exception], ...]:
    """What Chroma raises when it, or the server, fails (not our programming errors)."""
    from chromadb.errors import ChromaError

    # ValueError: "Could not connect to a Chroma server"; OSError: the embedded files.
    return (ChromaError, httpx.HTTPError, ValueError, OSError)
