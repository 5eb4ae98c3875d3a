"""Per-user memories: SQL rows are the truth, the vector index finds them by meaning.

Listing, editing and ownership go through the `memories` table; the index holds one
vector per memory id, tagged with its user. A search asks the index for the user's
nearest ids (in that user's own collection) and keeps only those the table confirms
are still that user's, so a vector left behind (an orphan) never surfaces, and is
swept away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.core.errors import MemoryUnavailable, NotFound
from orchestrator.db.models import Memory, new_id, utcnow
from orchestrator.db.session import fetch
from orchestrator.memory._embedders import Embedder
from orchestrator.memory._index import VectorIndex

log = logging.getLogger(__name__)
REEMBED_BATCH = 64
MAX_CONTENT = 4000  # characters of one memory (e5 reads about 512 tokens anyway)
MAX_TAGS = 20
MAX_TAG = 50
MAX_QUERY = 1000
# Every chat turn asks it: built once (building it cost more than running it).
_ANY_MEMORY = select(Memory.id).where(Memory.user_id == bindparam("user_id")).limit(1)


@dataclass(frozen=True)
class Recollection:
    """A memory found by meaning, with its cosine similarity to the query."""

    memory: Memory
    score: float


@dataclass(frozen=True)
class NewMemory:
    """What to keep: the text, its tags and where it came from."""

    content: str
    tags: Sequence[str] = ()
    source: str = "user"


class MemoryStore:
    """Every user's memories; each call is scoped to one `user_id`."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        index: VectorIndex,
        embedder: Embedder,
    ) -> None:
        self.sessions = sessions
        self.index = index
        self.embedder = embedder
        self._lock = asyncio.Lock()  # index + table writes of one memory happen together
        self._stale = True  # some memory may lack a vector from the current embedder
        self._catch_up: asyncio.Task[None] | None = None
        self._housekeeping_due = False  # left by start-up for the first use of the index

    @property
    def space(self) -> str:
        """The index space of the current embedder."""
        return self.embedder.name

    # -- life cycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Re-embed, in the background, memories another embedder made."""
        self._catch_up = asyncio.create_task(self._reconcile(), name="memory-reembed")

    async def settled(self) -> None:
        """Wait until the start-up re-embedding is over (tests, benchmarks)."""
        if self._catch_up is not None:
            await asyncio.shield(self._catch_up)

    async def close(self) -> None:
        """Stop background work and release the embedder."""
        if self._catch_up is not None:
            self._catch_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._catch_up
        await self.embedder.aclose()

    async def _reconcile(self) -> None:
        """Bring every vector to the current embedder, then drop what no row needs.

        When every row already has the current embedder's vector (nearly every start),
        the index is left closed: opening embedded Chroma loads numpy, onnxruntime and
        gRPC (about 30 MB) into an idle server. The housekeeping then waits for the
        first search or add, which opens the index anyway."""
        try:
            async with self.sessions() as db:
                total = await db.scalar(select(func.count()).select_from(Memory)) or 0
            if total == 0:
                self._stale = False
                return  # nothing stored: do not even open the vector store
            stale = await self._count_stale(None)
            if not stale:
                self._stale = False
                self._housekeeping_due = True
                return
            log.info("re-embedding %d memories with %s", stale, self.space)
            started = time.perf_counter()
            done = await self.reembed()
            log.info("re-embedded %d memories in %.1f s", done, time.perf_counter() - started)
            self._stale = False
        except asyncio.CancelledError:
            raise
        except MemoryUnavailable as exc:
            log.warning("memory catch-up postponed: %s", exc.message)
            return
        except Exception:  # start-up must go on; searches re-embed lazily meanwhile
            log.exception("memory re-embedding failed; will retry on use")
            return
        await self._housekeep()

    def _index_in_use(self) -> None:
        """The index was opened by a search or an add: the housekeeping that start-up left
        for this moment runs now, in the background."""
        if self._housekeeping_due:
            self._housekeeping_due = False
            self._catch_up = asyncio.create_task(self._housekeep(), name="memory-housekeeping")

    async def _housekeep(self) -> None:
        """Drop the spaces of previous embedders and the vectors whose row is gone."""
        try:
            for space in await self.index.spaces():
                if space != self.space:
                    log.info("dropping the vectors of the previous embedder %s", space)
                    await self.index.drop(space)
            await self._sweep_orphans()
        except asyncio.CancelledError:
            raise
        except MemoryUnavailable as exc:
            log.warning("memory housekeeping postponed: %s", exc.message)
        except Exception:
            log.exception("memory housekeeping failed")

    async def _sweep_orphans(self) -> None:
        """Remove vectors whose row is gone (a crash between the two writes, a user deleted)."""
        async with self.sessions() as db:
            rows = await db.scalar(
                select(func.count()).select_from(Memory).where(Memory.embedder == self.space)
            )
        if await self.index.count(self.space) <= (rows or 0):
            return
        indexed = await self.index.ids(self.space)
        async with self.sessions() as db:
            known: set[str] = set()
            for start in range(0, len(indexed), 1000):
                chunk = [memory_id for _, memory_id in indexed[start : start + 1000]]
                known.update(await db.scalars(select(Memory.id).where(Memory.id.in_(chunk))))
        orphans: dict[int, list[str]] = {}
        for user_id, memory_id in indexed:
            if memory_id not in known:
                orphans.setdefault(user_id, []).append(memory_id)
        log.info("removing %d orphaned memory vectors", sum(map(len, orphans.values())))
        async with self._lock:
            for user_id, ids in orphans.items():
                await self.index.delete(self.space, user_id, ids)

    async def _count_stale(self, user_id: int | None) -> int:
        async with self.sessions() as db:
            query = select(func.count()).select_from(Memory).where(self._is_stale())
            if user_id is not None:
                query = query.where(Memory.user_id == user_id)
            return await db.scalar(query) or 0

    def _is_stale(self) -> Any:
        return or_(Memory.embedder.is_(None), Memory.embedder != self.space)

    async def reembed(self, user_id: int | None = None) -> int:
        """Give the current embedder's vector to every memory lacking one; how many."""
        done = 0
        while True:
            async with self.sessions() as db:
                query = select(Memory.id, Memory.content).where(self._is_stale())
                if user_id is not None:
                    query = query.where(Memory.user_id == user_id)
                batch = (await db.execute(query.limit(REEMBED_BATCH))).all()
            if not batch:
                return done
            vectors = await self.embedder.embed_passages([row.content for row in batch])
            made = {
                row.id: (row.content, vector) for row, vector in zip(batch, vectors, strict=True)
            }
            async with self._lock, self.sessions() as db:
                # Only rows unchanged since they were read: an edit meanwhile embedded itself.
                current = (
                    await db.execute(
                        select(Memory.id, Memory.user_id, Memory.content).where(
                            Memory.id.in_(list(made)), self._is_stale()
                        )
                    )
                ).all()
                fresh = [row for row in current if made[row.id][0] == row.content]
                for user_id in {row.user_id for row in fresh}:
                    mine = [row.id for row in fresh if row.user_id == user_id]
                    vectors = [made[memory_id][1] for memory_id in mine]
                    await self.index.upsert(self.space, user_id, mine, vectors)
                await db.execute(
                    update(Memory)
                    .where(Memory.id.in_([row.id for row in fresh]))
                    .values(embedder=self.space)
                )
                await db.commit()
            done += len(fresh)

    # -- one user's memories ----------------------------------------------------------------
    async def add(self, user_id: int, item: NewMemory) -> Memory:
        """Keep one memory."""
        return (await self.add_many(user_id, [item]))[0]

    async def add_many(self, user_id: int, items: Sequence[NewMemory]) -> list[Memory]:
        """Keep several memories, embedded in one batch."""
        vectors = await self.embedder.embed_passages([item.content for item in items])
        rows = [
            Memory(
                id=new_id(),
                user_id=user_id,
                content=item.content,
                tags=list(item.tags),
                source=item.source,
                embedder=None,  # no vector yet
            )
            for item in items
        ]
        ids = [row.id for row in rows]
        async with self._lock, self.sessions() as db:
            # The row first, so a vector never exists without its row: a vector without
            # one is a true orphan, safe to delete on sight. A crash before the vector
            # lands leaves `embedder=None`, which the next start embeds again.
            db.add_all(rows)
            await db.commit()
            try:
                await self.index.upsert(self.space, user_id, ids, vectors)
            except MemoryUnavailable:
                await db.execute(delete(Memory).where(Memory.id.in_(ids)))  # all or nothing
                await db.commit()
                raise
            await db.execute(update(Memory).where(Memory.id.in_(ids)).values(embedder=self.space))
            await db.commit()
        self._index_in_use()
        for row in rows:
            row.embedder = self.space
        return rows

    async def get(self, user_id: int, memory_id: str) -> Memory:
        """The memory if it is the user's; otherwise `NotFound`, as for a missing one."""
        async with self.sessions() as db:
            return await self._owned(db, user_id, memory_id)

    async def recent(
        self, user_id: int, *, limit: int = 100, offset: int = 0
    ) -> tuple[list[Memory], int]:
        """The user's memories, newest first, and how many there are."""
        async with self.sessions() as db:
            query = select(Memory).where(Memory.user_id == user_id)
            total = await db.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = await db.scalars(
                query.order_by(Memory.created_at.desc(), Memory.id).limit(limit).offset(offset)
            )
            return list(rows), total

    async def has_any(self, user_id: int) -> bool:
        """Whether the user keeps any memory (a cheap check before searching)."""
        return bool(await fetch(self.sessions, _ANY_MEMORY, {"user_id": user_id}))

    async def search(self, user_id: int, query: str, *, limit: int = 10) -> list[Recollection]:
        """The user's memories nearest in meaning to `query`, best first."""
        if self._stale and await self._count_stale(user_id):
            await self.reembed(user_id)  # the background catch-up has not reached them yet
        vector = await self.embedder.embed_query(query)
        # A few extra: orphans (vectors without a row) are dropped below.
        hits = await self.index.query(self.space, user_id, vector, limit=limit + 5)
        self._index_in_use()
        if not hits:
            return []
        async with self.sessions() as db:
            rows = await db.scalars(
                select(Memory).where(Memory.id.in_([i for i, _ in hits]), Memory.user_id == user_id)
            )
            by_id = {row.id: row for row in rows}
        orphans = [i for i, _ in hits if i not in by_id]
        if orphans:
            log.info("removing %d orphaned memory vectors", len(orphans))
            async with self._lock:
                await self.index.delete(self.space, user_id, orphans)
        found = [Recollection(by_id[i], score) for i, score in hits if i in by_id]
        return found[:limit]

    async def update(
        self,
        user_id: int,
        memory_id: str,
        *,
        content: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> Memory:
        """Change a memory's text (re-embedded) or tags."""
        async with self.sessions() as db:
            await self._owned(db, user_id, memory_id)
        vector = None if content is None else await self.embedder.embed_passages([content])
        async with self._lock, self.sessions() as db:
            row = await self._owned(db, user_id, memory_id)  # it may have gone meanwhile
            if vector is not None and content is not None:
                await self.index.upsert(self.space, user_id, [row.id], vector)
                row.content = content
                row.embedder = self.space
            if tags is not None:
                row.tags = list(tags)
            row.updated_at = utcnow()
            await db.commit()
            return row

    async def delete(self, user_id: int, memory_id: str) -> None:
        """Forget a memory: its row, then its vector."""
        async with self._lock:
            async with self.sessions() as db:
                row = await self._owned(db, user_id, memory_id)
                await db.delete(row)
                await db.commit()
            try:
                # Searches read only the current space; older spaces are dropped whole.
                await self.index.delete(self.space, user_id, [memory_id])
            except MemoryUnavailable as exc:
                # The row was the truth and is gone; the vector left is an orphan that
                # no search returns and the next sweep removes.
                log.warning("memory %s deleted, its vector not yet: %s", memory_id, exc.message)

    async def purge_user(self, user_id: int) -> None:
        """Forget every memory of a user being deleted: vectors, then rows."""
        async with self._lock:
            async with self.sessions() as db:
                ids = list(await db.scalars(select(Memory.id).where(Memory.user_id == user_id)))
            if ids:
                # Vectors first: once the rows are gone nothing names these ids any more
                # (older embedders' spaces are dropped whole at start-up).
                await self.index.delete(self.space, user_id, ids)
            async with self.sessions() as db:
                await db.execute(delete(Memory).where(Memory.user_id == user_id))
                await db.commit()

    @staticmethod
    async def _owned(db: AsyncSession, user_id: int, memory_id: str) -> Memory:
        row = await db.scalar(
            select(Memory).where(Memory.id == memory_id, Memory.user_id == user_id)
        )
        if row is None:
            raise NotFound("memory not found")
        return row
