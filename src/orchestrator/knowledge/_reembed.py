"""Re-embedding: when EMBEDDING_MODEL changes, every ready document's passages get
vectors from the new embedder, in the background, one document at a time.

Each document records the embedder its vectors came from. A document whose record
differs from the current embedder is "stale": the ingester claims it with the same
lease as an ingestion (its status stays `ready`), embeds its stored passages again into
the new embedder's space, then records the new embedder and deletes the old vectors.
Meanwhile hybrid search leaves the vector half out for collections that still hold a
stale document (see `KnowledgeBase.search`): keywords alone find every passage, rather
than meaning finding only the passages already re-embedded. When no document needs an
old embedder's space any more, the space is dropped.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from orchestrator.db.models import KnowledgeChunk, KnowledgeDocument, utcnow
from orchestrator.knowledge._chunk import Chunk
from orchestrator.knowledge._store import KnowledgeBase

log = logging.getLogger(__name__)
EMBED_BATCH = 32


def stale(embedder: str) -> ColumnElement[bool]:
    """Ready documents whose vectors another embedder (or none) made."""
    return (KnowledgeDocument.status == "ready") & or_(
        KnowledgeDocument.embedder.is_(None), KnowledgeDocument.embedder != embedder
    )


async def claim_stale(
    base: KnowledgeBase, owner: str, lease: timedelta
) -> KnowledgeDocument | None:
    """Take a stale document nobody holds, or None."""
    now = utcnow()
    async with base.sessions() as db:
        candidates = list(
            await db.scalars(
                select(KnowledgeDocument)
                .where(
                    stale(base.embedder.name),
                    or_(
                        KnowledgeDocument.lease_expires_at.is_(None),
                        KnowledgeDocument.lease_expires_at < now,
                    ),
                )
                .order_by(KnowledgeDocument.created_at)
                .limit(5)
            )
        )
        for document in candidates:
            claimed = await db.execute(
                update(KnowledgeDocument)
                .where(
                    KnowledgeDocument.id == document.id,
                    stale(base.embedder.name),
                    or_(
                        KnowledgeDocument.lease_expires_at.is_(None),
                        KnowledgeDocument.lease_expires_at < now,
                    ),
                )
                .values(lease_owner=owner, lease_expires_at=now + lease)
            )
            await db.commit()
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                return document
    return None


async def reembed(base: KnowledgeBase, document: KnowledgeDocument, owner: str) -> None:
    """Give a claimed document's passages the current embedder's vectors."""
    async with base.sessions() as db:
        rows = list(
            await db.scalars(
                select(KnowledgeChunk)
                .where(KnowledgeChunk.document_id == document.id)
                .order_by(KnowledgeChunk.seq)
            )
        )
    chunks = [Chunk(row.seq, row.text, row.page, row.heading) for row in rows]
    ids = [row.id for row in rows]
    space = base.space(document.collection_id)
    for start in range(0, len(chunks), EMBED_BATCH):
        batch = chunks[start : start + EMBED_BATCH]
        vectors = await base.embedder.embed_passages([c.indexed_text for c in batch])
        await base.index.upsert(space, document.user_id, ids[start : start + EMBED_BATCH], vectors)
    async with base.sessions() as db:
        mine = await db.execute(
            update(KnowledgeDocument)
            .where(
                KnowledgeDocument.id == document.id,
                KnowledgeDocument.lease_owner == owner,
                KnowledgeDocument.status == "ready",
            )
            .values(
                embedder=base.embedder.name,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=utcnow(),
            )
        )
        await db.commit()
    if mine.rowcount != 1:  # type: ignore[attr-defined]
        await base.index.delete(space, document.user_id, ids)  # deleted meanwhile
        return
    if document.embedder:
        old = f"{document.embedder}#{document.collection_id}"
        await base.index.delete(old, document.user_id, ids)
    log.info("knowledge: %s re-embedded with %s", document.id, base.embedder.name)


async def drop_unused_spaces(base: KnowledgeBase) -> None:
    """Drop the vector spaces of embedders no document uses any more."""
    async with base.sessions() as db:
        used = set(await db.scalars(select(KnowledgeDocument.embedder).distinct()))
    if not used:
        return  # no documents: deleting a collection already dropped its spaces
    used.add(base.embedder.name)
    for space in await base.index.spaces():
        if space.rsplit("#", 1)[0] not in used:
            log.info("knowledge: dropping the vectors of %s", space)
            await base.index.drop(space)
