"""Every user's knowledge bases: collections, documents, and hybrid search over them.

SQL rows are the truth (a chunk is searchable only while its document is `ready`); the
vector index holds one Chroma collection per knowledge collection, under the owner's
id, so that a search is confined to one user's collections structurally. Hybrid
search fuses the keyword ranking and the vector ranking by reciprocal rank fusion.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy import bindparam, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.core.config import Settings
from orchestrator.core.errors import NotFound
from orchestrator.db.models import (
    KnowledgeChunk,
    KnowledgeCollection,
    KnowledgeDocument,
    new_id,
    utcnow,
)
from orchestrator.db.session import fetch
from orchestrator.knowledge._formats import check_not_empty, detect_kind, safe_filename
from orchestrator.knowledge._keyword import COMMON_FRACTION, keyword_search, unindex_documents
from orchestrator.memory import Embedder, VectorIndex

log = logging.getLogger(__name__)
SearchMode = Literal["hybrid", "keyword", "vector"]
RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al.; the usual value)
CANDIDATES = 50  # each ranking's depth before fusion
MAX_QUERY = 1000
# The collections a chat turn's prompt names, on every turn: built once.
_NAMES = (
    select(KnowledgeCollection.id, KnowledgeCollection.name)
    .where(KnowledgeCollection.user_id == bindparam("user_id"))
    .order_by(KnowledgeCollection.created_at.desc(), KnowledgeCollection.id)
    .limit(bindparam("limit"))
)


@dataclass(frozen=True)
class Passage:
    """A chunk found by a search, with where it came from."""

    document_id: str
    collection_id: str
    filename: str
    chunk_id: str
    text: str
    score: float
    page: int | None
    heading: str | None


def fuse(rankings: Sequence[Sequence[str]], *, k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: each id scores sum(1 / (k + rank)) over the rankings."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


class KnowledgeBase:
    """Collections, documents and search; every call is scoped to one `user_id`."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        index: VectorIndex,
        embedder: Embedder,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.index = index
        self.embedder = embedder
        self.files = settings.data_dir / "knowledge" / "files"
        self.rrf_k = RRF_K
        self.common_fraction = COMMON_FRACTION  # 1: every query word recruits (benchmarks)

    def space(self, collection_id: str) -> str:
        """The vector space of one collection under the current embedder."""
        return f"{self.embedder.name}#{collection_id}"

    def file_path(self, document: KnowledgeDocument) -> Path:
        """Where an uploaded document's bytes are kept."""
        return self.files / str(document.user_id) / document.id

    # -- collections ----------------------------------------------------------------------
    async def create_collection(
        self, user_id: int, name: str, description: str = ""
    ) -> KnowledgeCollection:
        """A new, empty collection."""
        async with self.sessions() as db:
            row = KnowledgeCollection(
                id=new_id(), user_id=user_id, name=name, description=description
            )
            db.add(row)
            await db.commit()
            return row

    async def collections(self, user_id: int) -> list[tuple[KnowledgeCollection, int]]:
        """The user's collections, newest first, each with its document count."""
        async with self.sessions() as db:
            counts = (
                select(KnowledgeDocument.collection_id, func.count().label("n"))
                .where(KnowledgeDocument.user_id == user_id)
                .group_by(KnowledgeDocument.collection_id)
                .subquery()
            )
            rows = await db.execute(
                select(KnowledgeCollection, func.coalesce(counts.c.n, 0))
                .outerjoin(counts, counts.c.collection_id == KnowledgeCollection.id)
                .where(KnowledgeCollection.user_id == user_id)
                .order_by(KnowledgeCollection.created_at.desc(), KnowledgeCollection.id)
            )
            return [(row[0], int(row[1])) for row in rows]

    async def collection_names(
        self, user_id: int, limit: int, ids: Sequence[str] | None = None
    ) -> list[tuple[str, str]]:
        """(id, name) of the user's newest `limit` collections (among `ids` when given):
        what a turn's prompt names, without `collections`' document counts (a chat turn
        asks on every turn)."""
        if ids is None:
            found = await fetch(self.sessions, _NAMES, {"user_id": user_id, "limit": limit})
            return [(row.id, row.name) for row in found]
        query = select(KnowledgeCollection.id, KnowledgeCollection.name).where(
            KnowledgeCollection.user_id == user_id, KnowledgeCollection.id.in_(list(ids))
        )
        async with self.sessions() as db:
            rows = await db.execute(
                query.order_by(KnowledgeCollection.created_at.desc(), KnowledgeCollection.id).limit(
                    limit
                )
            )
            return [(row[0], row[1]) for row in rows]

    async def collection(self, user_id: int, collection_id: str) -> tuple[KnowledgeCollection, int]:
        """One of the user's collections with its document count; `NotFound` otherwise."""
        async with self.sessions() as db:
            row = await self._owned_collection(db, user_id, collection_id)
            count = await db.scalar(
                select(func.count())
                .select_from(KnowledgeDocument)
                .where(KnowledgeDocument.collection_id == collection_id)
            )
            return row, int(count or 0)

    async def owned_collection_ids(
        self, user_id: int, ids: Sequence[str] | None = None
    ) -> list[str]:
        """The user's collection ids (among `ids` when given, in their order)."""
        async with self.sessions() as db:
            query = select(KnowledgeCollection.id).where(KnowledgeCollection.user_id == user_id)
            if ids is not None:
                query = query.where(KnowledgeCollection.id.in_(list(ids)))
            found = set(await db.scalars(query))
        return [i for i in ids if i in found] if ids is not None else sorted(found)

    async def update_collection(
        self, user_id: int, collection_id: str, *, name: str | None, description: str | None
    ) -> tuple[KnowledgeCollection, int]:
        """Rename or describe a collection."""
        async with self.sessions() as db:
            row = await self._owned_collection(db, user_id, collection_id)
            if name is not None:
                row.name = name
            if description is not None:
                row.description = description
            row.updated_at = utcnow()
            await db.commit()
        return await self.collection(user_id, collection_id)

    async def delete_collection(self, user_id: int, collection_id: str) -> None:
        """Delete a collection with its documents, passages, vectors and files."""
        async with self.sessions() as db:
            row = await self._owned_collection(db, user_id, collection_id)
            documents = list(
                await db.scalars(
                    select(KnowledgeDocument).where(
                        KnowledgeDocument.collection_id == collection_id
                    )
                )
            )
            await unindex_documents(db, [d.id for d in documents])
            await db.execute(
                delete(KnowledgeChunk).where(KnowledgeChunk.collection_id == collection_id)
            )
            await db.delete(row)
            await db.commit()
        for document in documents:
            await asyncio.to_thread(self._remove_file, document)
        await self._drop_vectors(collection_id)

    async def _drop_vectors(self, collection_id: str) -> None:
        for space in await self.index.spaces():
            if space.endswith(f"#{collection_id}"):
                await self.index.drop(space)

    async def purge_user(self, user_id: int) -> None:
        """Remove every knowledge base of a user: rows, vectors, files (account deletion)."""
        await self.delete_user(user_id)

    async def delete_user(self, user_id: int) -> None:
        """Remove every knowledge base of a user (account deletion)."""
        for collection, _ in await self.collections(user_id):
            await self.delete_collection(user_id, collection.id)
        await asyncio.to_thread(shutil.rmtree, self.files / str(user_id), True)

    # -- documents ------------------------------------------------------------------------
    async def add_upload(
        self,
        user_id: int,
        collection_id: str,
        raw_filename: str | None,
        declared_type: str | None,
        data: bytes,
    ) -> KnowledgeDocument:
        """Check an upload (not empty, a supported kind whose bytes match) and queue it."""
        async with self.sessions() as db:
            await self._owned_collection(db, user_id, collection_id)  # 404 before 4xx on body
        check_not_empty(len(data))
        filename = safe_filename(raw_filename)
        kind = detect_kind(filename, declared_type, data[:8192])
        return await self.add_document(user_id, collection_id, filename, kind.value, data)

    async def add_document(
        self, user_id: int, collection_id: str, filename: str, media_type: str, data: bytes
    ) -> KnowledgeDocument:
        """Keep an upload's bytes and queue it for ingestion."""
        async with self.sessions() as db:
            await self._owned_collection(db, user_id, collection_id)
            row = KnowledgeDocument(
                id=new_id(),
                collection_id=collection_id,
                user_id=user_id,
                filename=filename,
                media_type=media_type,
                size=len(data),
                status="queued",
                chunks=0,
                attempts=0,
            )
            await asyncio.to_thread(self._write_file, row, data)
            db.add(row)
            await db.commit()
            return row

    def _write_file(self, document: KnowledgeDocument, data: bytes) -> None:
        path = self.file_path(document)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)

    def _remove_file(self, document: KnowledgeDocument) -> None:
        self.file_path(document).unlink(missing_ok=True)

    async def documents(self, user_id: int, collection_id: str) -> list[KnowledgeDocument]:
        """A collection's documents, newest first."""
        async with self.sessions() as db:
            await self._owned_collection(db, user_id, collection_id)
            rows = await db.scalars(
                select(KnowledgeDocument)
                .where(KnowledgeDocument.collection_id == collection_id)
                .order_by(KnowledgeDocument.created_at.desc(), KnowledgeDocument.id)
            )
            return list(rows)

    async def document(
        self, user_id: int, collection_id: str, document_id: str
    ) -> KnowledgeDocument:
        """One document of one of the user's collections; `NotFound` otherwise."""
        async with self.sessions() as db:
            return await self._owned_document(db, user_id, collection_id, document_id)

    async def delete_document(self, user_id: int, collection_id: str, document_id: str) -> None:
        """Delete a document: its row and passages, then its vectors and file."""
        async with self.sessions() as db:
            row = await self._owned_document(db, user_id, collection_id, document_id)
            ids = list(
                await db.scalars(
                    select(KnowledgeChunk.id).where(KnowledgeChunk.document_id == document_id)
                )
            )
            await unindex_documents(db, [document_id])
            await db.execute(
                delete(KnowledgeChunk).where(KnowledgeChunk.document_id == document_id)
            )
            await db.delete(row)
            await db.commit()
        await asyncio.to_thread(self._remove_file, row)
        await self.index.delete(self.space(collection_id), user_id, ids)

    # -- search ---------------------------------------------------------------------------
    async def search(
        self,
        user_id: int,
        query: str,
        collection_ids: Sequence[str] | None = None,
        *,
        limit: int = 5,
        mode: SearchMode = "hybrid",
    ) -> list[Passage]:
        """The passages of the user's collections (all, or those given) best matching
        `query`: keywords and meaning fused (`mode` picks one alone, for benchmarks)."""
        scope = await self.owned_collection_ids(user_id, collection_ids)
        if not scope or not query.strip():
            return []
        rankings: list[list[str]] = []
        if mode in ("hybrid", "keyword"):
            async with self.sessions() as db:
                found = await keyword_search(
                    db,
                    user_id,
                    scope,
                    query,
                    limit=CANDIDATES,
                    common_fraction=self.common_fraction,
                )
                rankings.append(found)
        if mode == "vector" or (mode == "hybrid" and not await self._reembedding(scope)):
            rankings.append(await self._vector_ranking(user_id, scope, query))
        fused = fuse(rankings, k=self.rrf_k)
        return await self._passages(user_id, fused, limit)

    async def _reembedding(self, scope: Sequence[str]) -> bool:
        """Whether some ready document in scope still has another embedder's vectors
        (then meaning would find only the passages re-embedded so far)."""
        async with self.sessions() as db:
            found = await db.scalar(
                select(KnowledgeDocument.id)
                .where(
                    KnowledgeDocument.collection_id.in_(list(scope)),
                    KnowledgeDocument.status == "ready",
                    or_(
                        KnowledgeDocument.embedder.is_(None),
                        KnowledgeDocument.embedder != self.embedder.name,
                    ),
                )
                .limit(1)
            )
        return found is not None

    async def _vector_ranking(self, user_id: int, scope: Sequence[str], query: str) -> list[str]:
        vector = await self.embedder.embed_query(query)
        hits: list[tuple[str, float]] = []
        for collection_id in scope:
            hits += await self.index.query(
                self.space(collection_id), user_id, vector, limit=CANDIDATES
            )
        hits.sort(key=lambda pair: -pair[1])
        return [chunk_id for chunk_id, _ in hits[:CANDIDATES]]

    async def _passages(
        self, user_id: int, fused: list[tuple[str, float]], limit: int
    ) -> list[Passage]:
        """The fused ids that are still the user's ready passages, best first."""
        if not fused:
            return []
        wanted = dict(fused[: limit + 20])
        async with self.sessions() as db:
            rows = await db.execute(
                select(KnowledgeChunk, KnowledgeDocument.filename)
                .join(KnowledgeDocument, KnowledgeDocument.id == KnowledgeChunk.document_id)
                .where(
                    KnowledgeChunk.id.in_(list(wanted)),
                    KnowledgeChunk.user_id == user_id,
                    KnowledgeDocument.status == "ready",
                )
            )
            found = {chunk.id: (chunk, filename) for chunk, filename in rows}
        passages = [
            Passage(
                document_id=chunk.document_id,
                collection_id=chunk.collection_id,
                filename=filename,
                chunk_id=chunk.id,
                text=chunk.text,
                score=round(score, 6),
                page=chunk.page,
                heading=chunk.heading,
            )
            for chunk_id, score in wanted.items()
            if chunk_id in found
            for chunk, filename in [found[chunk_id]]
        ]
        return passages[:limit]

    # -- ownership ------------------------------------------------------------------------
    @staticmethod
    async def _owned_collection(
        db: AsyncSession, user_id: int, collection_id: str
    ) -> KnowledgeCollection:
        row = await db.scalar(
            select(KnowledgeCollection).where(
                KnowledgeCollection.id == collection_id, KnowledgeCollection.user_id == user_id
            )
        )
        if row is None:
            raise NotFound("knowledge collection not found")
        return row

    @staticmethod
    async def _owned_document(
        db: AsyncSession, user_id: int, collection_id: str, document_id: str
    ) -> KnowledgeDocument:
        row = await db.scalar(
            select(KnowledgeDocument).where(
                KnowledgeDocument.id == document_id,
                KnowledgeDocument.collection_id == collection_id,
                KnowledgeDocument.user_id == user_id,
            )
        )
        if row is None:
            raise NotFound("document not found")
        return row
