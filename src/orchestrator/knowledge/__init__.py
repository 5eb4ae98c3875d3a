"""Knowledge bases: a user's documents, parsed, cut into passages and searched by
keywords and meaning together, with citations the answer can make.

base = create_knowledge_base(settings, sessions, embedder)
doc = await base.add_document(user_id, collection_id, "report.pdf", kind, data)
ingester.wake()   # parsed, chunked, embedded and indexed in the background
await base.search(user_id, "what did the report conclude?")
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.core.config import Settings
from orchestrator.knowledge._chunk import Chunk, chunk_sections
from orchestrator.knowledge._formats import (
    DocumentKind,
    check_not_empty,
    detect_kind,
    safe_filename,
)
from orchestrator.knowledge._ingest import MAX_ATTEMPTS, Ingester
from orchestrator.knowledge._parse import DocumentUnreadable, ParsedDocument, Section, parse
from orchestrator.knowledge._store import MAX_QUERY, KnowledgeBase, Passage, SearchMode, fuse
from orchestrator.knowledge._turn import (
    PROMPT_SECTION,
    Citation,
    TurnKnowledge,
    collection_scope,
)
from orchestrator.memory import ChromaIndex, Embedder

VECTOR_PREFIX = "knowledge-"


def create_knowledge_base(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], embedder: Embedder
) -> KnowledgeBase:
    """The knowledge base for `settings`: Chroma (embedded in DATA_DIR/knowledge/index, or
    `CHROMA_URL`) and the embedder memory uses (one model loaded, not two)."""
    index = ChromaIndex.from_settings(settings, folder="knowledge/index", prefix=VECTOR_PREFIX)
    return KnowledgeBase(settings, sessions, index, embedder)


__all__ = [
    "MAX_ATTEMPTS",
    "MAX_QUERY",
    "PROMPT_SECTION",
    "VECTOR_PREFIX",
    "Chunk",
    "Citation",
    "DocumentKind",
    "DocumentUnreadable",
    "Ingester",
    "KnowledgeBase",
    "ParsedDocument",
    "Passage",
    "SearchMode",
    "Section",
    "TurnKnowledge",
    "check_not_empty",
    "chunk_sections",
    "collection_scope",
    "create_knowledge_base",
    "detect_kind",
    "fuse",
    "parse",
    "safe_filename",
]
