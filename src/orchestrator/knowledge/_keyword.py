"""The keyword half of hybrid search: SQLite FTS5 (BM25) or Postgres full-text search,
written in the same transaction as the chunks they index.

Queries are reduced to word tokens joined by OR, so user text never reaches either
query language as syntax, and a passage matching some of the words still ranks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.knowledge._chunk import Chunk

FTS_TABLE = "knowledge_fts"  # SQLite only; created by migration 0004_knowledge
MAX_TERMS = 32
_WORD = re.compile(r"\w+", re.UNICODE)


def terms(query: str) -> list[str]:
    """The distinct word tokens of a query, lowercased, at most MAX_TERMS."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if len(word) > 1 or word.isdigit():
            seen.setdefault(word[:64], None)
    return list(seen)[:MAX_TERMS]


def _sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


async def index_chunks(
    session: AsyncSession,
    user_id: int,
    collection_id: str,
    ids: Sequence[str],
    chunks: Sequence[Chunk],
) -> None:
    """Add the chunks to the keyword index (Postgres indexes the table itself)."""
    if not _sqlite(session) or not chunks:
        return
    await session.execute(
        text(
            "INSERT INTO knowledge_fts (text, chunk_id, collection_id, user_id) "
            "VALUES (:text, :chunk_id, :collection_id, :user_id)"
        ),
        [
            {
                "text": chunk.indexed_text,
                "chunk_id": chunk_id,
                "collection_id": collection_id,
                "user_id": str(user_id),
            }
            for chunk_id, chunk in zip(ids, chunks, strict=True)
        ],
    )


async def unindex_documents(session: AsyncSession, document_ids: Sequence[str]) -> None:
    """Remove the documents' chunks from the keyword index."""
    if not _sqlite(session):
        return
    for document_id in document_ids:
        await session.execute(
            text("DELETE FROM knowledge_fts WHERE chunk_id >= :low AND chunk_id < :high"),
            {"low": f"{document_id}:", "high": f"{document_id};"},  # ';' follows ':'
        )


async def keyword_search(
    session: AsyncSession,
    user_id: int,
    collection_ids: Sequence[str],
    query: str,
    *,
    limit: int,
) -> list[str]:
    """Chunk ids of the user's collections that match the query's words, best first."""
    words = terms(query)
    if not words or not collection_ids:
        return []
    if _sqlite(session):
        statement = text(
            "SELECT chunk_id FROM knowledge_fts WHERE knowledge_fts MATCH :match "
            "AND user_id = :user_id AND collection_id IN :collections "
            "ORDER BY bm25(knowledge_fts) LIMIT :limit"
        ).bindparams(bindparam("collections", expanding=True))
        match = " OR ".join(f'"{word}"' for word in words)
        params = {"match": match, "user_id": str(user_id)}
    else:
        statement = text(
            "SELECT id FROM knowledge_chunks, to_tsquery('english', :match) AS q "
            "WHERE user_id = :user_id AND collection_id IN :collections "
            "AND to_tsvector('english', text) @@ q "
            "ORDER BY ts_rank(to_tsvector('english', text), q) DESC LIMIT :limit"
        ).bindparams(bindparam("collections", expanding=True))
        params = {"match": " | ".join(words), "user_id": user_id}  # type: ignore[dict-item]
    rows = await session.execute(
        statement, {**params, "collections": list(collection_ids), "limit": limit}
    )
    return [row[0] for row in rows]
