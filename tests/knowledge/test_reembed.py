"""A change of embedder (EMBEDDING_MODEL) re-embeds every ready document in the
background; meanwhile hybrid search answers from keywords and still finds every
passage; afterwards meaning finds them again and the old embedder's vectors are gone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from orchestrator.core.config import Settings
from orchestrator.db.models import User
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.knowledge import Ingester, KnowledgeBase, create_knowledge_base
from orchestrator.memory import ProviderEmbedder
from tests.knowledge.test_keyword import HARBOUR, notes
from tests.memory.conftest import hashed_vectors

OTHER = notes([f"Garden bed {n} holds leeks and chard." for n in range(5)])


World = tuple[Callable[[str], KnowledgeBase], int]


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    """A knowledge base as a process with EMBEDDING_MODEL=`model` builds it, and a user."""
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    async with sessions() as db:
        user = User(username="keeper", password_hash="x")
        db.add(user)
        await db.commit()
        user_id = user.id

    def open_base(model: str) -> KnowledgeBase:
        return create_knowledge_base(settings, sessions, ProviderEmbedder(model, hashed_vectors))

    yield open_base, user_id
    await engine.dispose()


async def settle(base: KnowledgeBase) -> None:
    ingester = Ingester(base, lease_seconds=30)
    await ingester.start()
    await ingester.idle()
    await ingester.stop()


async def test_a_new_embedder_re_embeds_and_search_stays_right_meanwhile(
    world: World,
) -> None:
    open_base, user = world
    before = open_base("old")
    harbour = (await before.create_collection(user, "harbour")).id
    garden = (await before.create_collection(user, "garden")).id
    first = await before.add_document(user, harbour, "h.md", "text/markdown", HARBOUR)
    await before.add_document(user, garden, "g.md", "text/markdown", OTHER)
    await settle(before)
    assert {s.split("#")[0] for s in await before.index.spaces()} == {"model/old"}

    # The process restarts with another EMBEDDING_MODEL; nothing is re-embedded yet.
    after = open_base("new")
    assert await after.search(user, "lighthouse stairs", [harbour], mode="vector") == []
    found = await after.search(user, "lighthouse stairs", [harbour])  # keywords answer
    assert found and found[0].text.startswith("The harbour lighthouse")

    await settle(after)  # the ingester re-embeds in the background
    document = await after.document(user, harbour, first.id)
    assert document.embedder == "model/new" and document.lease_owner is None
    vector_hits = await after.search(user, "lighthouse", [harbour], limit=20, mode="vector")
    assert len(vector_hits) == document.chunks == 11  # every passage has its new vector
    assert {s.split("#")[0] for s in await after.index.spaces()} == {"model/new"}
    assert await after.index.count(f"model/new#{garden}") == 5


async def test_a_document_deleted_while_re_embedding_leaves_no_vectors(
    world: World,
) -> None:
    from orchestrator.knowledge._reembed import claim_stale, reembed

    open_base, user = world
    before = open_base("old")
    harbour = (await before.create_collection(user, "harbour")).id
    first = await before.add_document(user, harbour, "h.md", "text/markdown", HARBOUR)
    await settle(before)
    after = open_base("new")
    ingester = Ingester(after, lease_seconds=30)
    claimed = await claim_stale(after, ingester.owner, ingester.lease)
    assert claimed is not None and claimed.id == first.id
    assert await claim_stale(after, "someone-else", ingester.lease) is None  # held
    await after.delete_document(user, harbour, first.id)
    await reembed(after, claimed, ingester.owner)  # finds its row gone at the end
    assert await after.index.count(f"model/new#{harbour}") == 0
