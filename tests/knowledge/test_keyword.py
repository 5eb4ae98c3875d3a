"""Keyword search leaves out common words: a word found in most of the passages searched
recruits no candidates, rare words do; what is common is measured in the searching
user's own collections. On SQLite (FTS5) and Postgres (full-text)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from orchestrator.core.config import Settings
from orchestrator.db.models import User
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.knowledge import Ingester, KnowledgeBase, create_knowledge_base
from tests.memory.conftest import provider_embedder


def notes(lines: list[str]) -> bytes:
    """A Markdown document with one passage per line (a heading each)."""
    return "\n\n".join(f"## Note {n}\n{line}" for n, line in enumerate(lines)).encode()


HARBOUR = notes(
    [f"The harbour ferry leaves at {7 + n} o'clock from pier {n}." for n in range(10)]
    + ["The harbour lighthouse has 204 stairs to its lamp room."]
)


@pytest.fixture
async def base(any_db_settings: Settings) -> AsyncIterator[tuple[KnowledgeBase, list[int]]]:
    """A knowledge base on SQLite, then Postgres, with two users."""
    engine = create_engine(any_db_settings)
    sessions = create_session_factory(engine)
    async with sessions() as db:
        users = [User(username=name, password_hash="x") for name in ("keeper", "visitor")]
        db.add_all(users)
        await db.commit()
        ids = [user.id for user in users]
    yield create_knowledge_base(any_db_settings, sessions, provider_embedder()), ids
    await engine.dispose()


async def ingest(base: KnowledgeBase, user: int, data: bytes) -> str:
    collection = (await base.create_collection(user, "notes")).id
    await base.add_document(user, collection, "notes.md", "text/markdown", data)
    ingester = Ingester(base, lease_seconds=30)
    await ingester.start()
    await ingester.idle()
    await ingester.stop()
    return collection


async def texts(base: KnowledgeBase, user: int, query: str, collection: str) -> list[str]:
    found = await base.search(user, query, [collection], limit=20, mode="keyword")
    return [passage.text for passage in found]


async def test_a_common_word_recruits_no_candidates_a_rare_one_does(
    base: tuple[KnowledgeBase, list[int]],
) -> None:
    kb, (keeper, _) = base
    collection = await ingest(kb, keeper, HARBOUR)
    assert await texts(kb, keeper, "harbour lighthouse", collection) == [
        "The harbour lighthouse has 204 stairs to its lamp room."
    ]
    kb.common_fraction = 1.0  # the baseline: every word in the OR
    assert len(await texts(kb, keeper, "harbour lighthouse", collection)) == 11


async def test_a_query_of_common_words_only_keeps_them_all(
    base: tuple[KnowledgeBase, list[int]],
) -> None:
    kb, (keeper, _) = base
    collection = await ingest(kb, keeper, HARBOUR)
    found = await texts(kb, keeper, "harbour ferry", collection)
    # Nothing rarer to go by: every passage with either word, those with both first.
    assert len(found) == 11 and all("ferry" in text for text in found[:10])


async def test_what_is_common_is_measured_in_the_users_own_collections(
    base: tuple[KnowledgeBase, list[int]],
) -> None:
    kb, (keeper, visitor) = base
    mine = await ingest(kb, keeper, HARBOUR)
    # Another user's passages full of "lighthouse" do not make it common for the keeper.
    await ingest(kb, visitor, notes([f"Lighthouse visit number {n}." for n in range(40)]))
    assert await texts(kb, keeper, "harbour lighthouse", mine) == [
        "The harbour lighthouse has 204 stairs to its lamp room."
    ]
