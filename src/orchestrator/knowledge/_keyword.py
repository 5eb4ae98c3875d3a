"""The keyword half of hybrid search: SQLite FTS5 (BM25) or Postgres full-text search,
written in the same transaction as the chunks they index.

Queries are reduced to word tokens joined by OR, so user text never reaches either
query language as syntax, and a passage matching some of the words still ranks.

Common terms are left out of the OR (as Lucene's common-terms query and `max_doc_freq`
do): a word found in more than COMMON_FRACTION of the passages searched tells them
apart too little to make a passage a candidate ("access" in an IT wiki, "what" in any
English text). BM25 already gives such a word almost no weight, but in an OR it still
recruits hundreds of near-random passages, and rank fusion, which sees only ranks, then
lets that noise push the other ranking's best passage down. What counts as common is
measured in the user's own collections being searched, never across users. When every
word is common, all are kept (the query has nothing rarer to go by).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.knowledge._chunk import Chunk

FTS_TABLE = "knowledge_fts"  # SQLite only; created by migration 0004_knowledge
MAX_TERMS = 32
COMMON_FRACTION = 0.25  # a word in more than this share of the passages searched is common
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
    common_fraction: float = COMMON_FRACTION,
) -> list[str]:
    """Chunk ids of the user's collections that match the query's words, best first
    (`common_fraction` 1 keeps every word)."""
    words = terms(query)
    if not words or not collection_ids:
        return []
    if common_fraction < 1:
        words = await _without_common_terms(
            session, user_id, collection_ids, words, common_fraction
        )
    if _sqlite(session):
        statement = text(
            "SELECT chunk_id FROM knowledge_fts WHERE knowledge_fts MATCH :match "
            "AND user_id = :user_id AND collection_id IN :collections "
            "ORDER BY bm25(knowledge_fts) LIMIT :limit"
        ).bindparams(bindparam("collections", expanding=True))
        params = {"match": _fts_or(words), "user_id": str(user_id)}
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


def _fts_or(words: Sequence[str]) -> str:
    return " OR ".join(f'"{word}"' for word in words)


async def _without_common_terms(
    session: AsyncSession,
    user_id: int,
    collection_ids: Sequence[str],
    words: list[str],
    fraction: float,
) -> list[str]:
    """The words that are not common in the passages searched (all, if every one is)."""
    if len(words) < 2:
        return words
    passages = await session.scalar(
        text(
            "SELECT coalesce(sum(chunks), 0) FROM knowledge_documents "
            "WHERE user_id = :user_id AND collection_id IN :collections AND status = 'ready'"
        ).bindparams(bindparam("collections", expanding=True)),
        {"user_id": user_id, "collections": list(collection_ids)},
    )
    cutoff = int((passages or 0) * fraction)
    if cutoff < 2:
        return words  # too few passages to tell
    if _sqlite(session):
        count = text(
            "SELECT count(*) FROM (SELECT 1 FROM knowledge_fts WHERE knowledge_fts MATCH :match "
            "AND user_id = :user_id AND collection_id IN :collections LIMIT :cap)"
        )
        scope: int | str = str(user_id)
    else:
        count = text(
            "SELECT count(*) FROM (SELECT 1 FROM knowledge_chunks "
            "WHERE user_id = :user_id AND collection_id IN :collections "
            "AND to_tsvector('english', text) @@ plainto_tsquery('english', :match) "
            "LIMIT :cap) AS found"
        )
        scope = user_id
    count = count.bindparams(bindparam("collections", expanding=True))
    frequency: dict[str, int] = {}
    for word in words:
        # Counting stops past the cutoff: a common word costs at most `cutoff` + 1 rows.
        frequency[word] = int(
            await session.scalar(
                count,
                {
                    "match": _fts_or([word]) if _sqlite(session) else word,
                    "user_id": scope,
                    "collections": list(collection_ids),
                    "cap": cutoff + 1,
                },
            )
            or 0
        )
    return [word for word in words if frequency[word] <= cutoff] or words
