"""The ingestion job on its own: all or nothing when the vector store fails half-way,
and a document deleted while it is ingested leaves nothing behind."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.core.errors import MemoryUnavailable
from orchestrator.knowledge import Ingester, KnowledgeBase
from tests.knowledge.conftest import chunk_count
from tests.knowledge.samples import HARBOUR_LOG as TEXT


class FailingIndex:
    """The real index, failing on its `fail_on`-th write (a vector store that goes away)."""

    def __init__(self, inner: object, fail_on: int) -> None:
        self.inner = inner
        self.writes = 0
        self.fail_on = fail_on

    async def upsert(
        self, space: str, user_id: int, ids: Sequence[str], vectors: Sequence[Sequence[float]]
    ) -> None:
        self.writes += 1
        if self.writes == self.fail_on:
            raise MemoryUnavailable("the memory store failed: connection reset")
        await self.inner.upsert(space, user_id, ids, vectors)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_a_vector_store_failure_half_way_leaves_no_passages(
    kb: tuple[KnowledgeBase, int],
) -> None:
    base, user = kb
    base.index = FailingIndex(base.index, fail_on=3)  # type: ignore[assignment]
    collection = (await base.create_collection(user, "c")).id
    document = await base.add_document(user, collection, "log.txt", "text/plain", TEXT)
    ingester = Ingester(base, lease_seconds=30)
    await ingester.start()
    await ingester.idle()
    await ingester.stop()
    failed = await base.document(user, collection, document.id)
    assert failed.status == "failed" and "vector store failed" in (failed.error or "")
    assert await chunk_count(base) == 0
    inner = base.index.inner  # type: ignore[attr-defined]
    assert await inner.count(base.space(collection)) == 0  # the two batches written are gone
    assert await base.search(user, "harbour master boats", [collection], mode="keyword") == []


async def test_a_document_deleted_while_ingesting_leaves_nothing(
    kb: tuple[KnowledgeBase, int],
) -> None:
    base, user = kb
    collection = (await base.create_collection(user, "c")).id
    document = await base.add_document(user, collection, "log.txt", "text/plain", TEXT)
    ingester = Ingester(base, lease_seconds=30)
    claimed = await ingester._claim()
    assert claimed is not None and claimed.id == document.id
    await base.delete_document(user, collection, document.id)
    await ingester.run(claimed)  # finds its row gone at the end
    assert await chunk_count(base) == 0
    assert await base.index.count(base.space(collection)) == 0
