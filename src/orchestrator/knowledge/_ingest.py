"""Ingestion jobs: read, cut, embed and index queued documents in the background.

Every process runs one `Ingester`. A job claims a document by writing a lease on its
row (`processing`, owner, expiry), renews it while it works, and ends it `ready` or
`failed` with a reason. A process that dies mid-job leaves a `processing` row whose
lease expires; any ingester (the restarted process, or another) then claims it again
and starts over, after removing whatever the dead attempt had written. After
MAX_ATTEMPTS interrupted attempts the document fails, saying so: it never stays
`processing`. A failed document keeps no passages and no vectors.

With nothing queued, the ingester re-embeds documents another embedder made (see
`_reembed`), under the same kind of lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from datetime import timedelta

from sqlalchemy import delete, or_, select, update

from orchestrator.core.errors import MemoryUnavailable
from orchestrator.db.models import KnowledgeChunk, KnowledgeDocument, utcnow
from orchestrator.knowledge._chunk import Chunk, chunk_sections
from orchestrator.knowledge._formats import DocumentKind
from orchestrator.knowledge._keyword import index_chunks, unindex_documents
from orchestrator.knowledge._parse import DocumentUnreadable, parse
from orchestrator.knowledge._reembed import claim_stale, drop_unused_spaces, reembed
from orchestrator.knowledge._store import KnowledgeBase

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
EMBED_BATCH = 32
POLL_SECONDS = 2.0


class IngestionFailed(Exception):
    """A document cannot be ingested; `reason` is stored on it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Ingester:
    """Claims queued (or abandoned) documents and ingests them one at a time."""

    def __init__(self, base: KnowledgeBase, *, lease_seconds: float) -> None:
        self.base = base
        self.lease = timedelta(seconds=lease_seconds)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        # Old embedders' spaces dropped since the last re-embedding or ingestion. Not at
        # start: listing them opens Chroma (about 30 MB) in a server that may stay idle; a
        # space a crashed process left is dropped after this one's next use of the index.
        self._spaces_checked = True

    @property
    def max_chunks(self) -> int:
        return self.base.settings.knowledge_max_chunks

    async def start(self) -> None:
        """Begin the background loop (it resumes what a dead process left)."""
        self._task = asyncio.create_task(self._loop(), name="knowledge-ingester")

    def wake(self) -> None:
        """A document was queued: look now rather than at the next poll."""
        self._idle.clear()
        self._wake.set()

    async def idle(self) -> None:
        """Wait until nothing is left to claim (tests, benchmarks)."""
        self.wake()
        await self._idle.wait()

    async def stop(self) -> None:
        """Stop the loop; a job cut short is resumed by the next process."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                document = await self._claim()
                if document is not None:
                    await self.run(document)
                    self._spaces_checked = False
                    continue
                if await self._reembed_one():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("knowledge: background ingestion or re-embedding failed")
            if not self._wake.is_set():  # a wake since the claim began: look again
                self._idle.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake.wait()
            self._wake.clear()

    async def _reembed_one(self) -> bool:
        """Re-embed one document another embedder made; False when none is left."""
        document = await claim_stale(self.base, self.owner, self.lease)
        if document is None:
            if not self._spaces_checked:
                await drop_unused_spaces(self.base)
                self._spaces_checked = True
            return False
        self._spaces_checked = False
        heartbeat = asyncio.create_task(self._renew(document.id))
        try:
            await reembed(self.base, document, self.owner)
        except MemoryUnavailable as exc:  # the lease runs out: tried again after it
            log.warning("knowledge: re-embedding %s failed: %s", document.id, exc.message)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        return True

    async def _claim(self) -> KnowledgeDocument | None:
        """Take the oldest queued document, or one whose lease ran out."""
        now = utcnow()
        async with self.base.sessions() as db:
            candidates = list(
                await db.scalars(
                    select(KnowledgeDocument)
                    .where(
                        or_(
                            KnowledgeDocument.status == "queued",
                            (KnowledgeDocument.status == "processing")
                            & (KnowledgeDocument.lease_expires_at < now),
                        )
                    )
                    .order_by(KnowledgeDocument.created_at)
                    .limit(5)
                )
            )
            for document in candidates:
                claimed = await db.execute(
                    update(KnowledgeDocument)
                    .where(
                        KnowledgeDocument.id == document.id,
                        KnowledgeDocument.status == document.status,
                        KnowledgeDocument.attempts == document.attempts,
                    )
                    .values(
                        status="processing",
                        lease_owner=self.owner,
                        lease_expires_at=now + self.lease,
                        attempts=document.attempts + 1,
                        updated_at=now,
                    )
                )
                await db.commit()
                if claimed.rowcount == 1:  # type: ignore[attr-defined]
                    document.attempts += 1
                    document.status = "processing"
                    return document
        return None

    async def run(self, document: KnowledgeDocument) -> None:
        """Ingest one claimed document to `ready`, or `failed` with its reason."""
        started = time.perf_counter()
        heartbeat = asyncio.create_task(self._renew(document.id))
        try:
            # What an interrupted attempt may have left (vectors only after a first attempt).
            await self._clear(document, vectors=document.attempts > 1)
            if document.attempts > MAX_ATTEMPTS:
                raise IngestionFailed(
                    f"ingestion was interrupted {MAX_ATTEMPTS} times (the process stopped "
                    "while reading this document); upload it again to retry"
                )
            chunks, pages = await self._read(document)
            await self._index(document, chunks, pages)
            log.info(
                "knowledge: %s ready, %d passages in %.1f s",
                document.id,
                len(chunks),
                time.perf_counter() - started,
            )
        except IngestionFailed as exc:
            await self._fail(document, exc.reason)
        except asyncio.CancelledError:
            raise  # shutdown: the lease runs out and the next process resumes it
        except MemoryUnavailable as exc:
            await self._fail(document, f"the vector store failed: {exc.message}")
        except Exception as exc:
            log.exception("knowledge: ingesting %s crashed", document.id)
            await self._fail(document, f"internal error while ingesting ({type(exc).__name__})")
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _renew(self, document_id: str) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            async with self.base.sessions() as db:
                await db.execute(
                    update(KnowledgeDocument)
                    .where(
                        KnowledgeDocument.id == document_id,
                        KnowledgeDocument.lease_owner == self.owner,
                    )
                    .values(lease_expires_at=utcnow() + self.lease)
                )
                await db.commit()

    async def _read(self, document: KnowledgeDocument) -> tuple[list[Chunk], int | None]:
        path = self.base.file_path(document)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise IngestionFailed("the uploaded file is missing from the server") from None
        limit = self.max_chunks

        def work() -> tuple[list[Chunk], int | None]:
            parsed = parse(DocumentKind(document.media_type), data)
            return list(chunk_sections(parsed.sections, limit=limit)), parsed.pages

        try:
            async with asyncio.timeout(self.base.settings.knowledge_parse_seconds):
                chunks, pages = await asyncio.to_thread(work)
        except DocumentUnreadable as exc:
            raise IngestionFailed(exc.reason) from None
        except TimeoutError:
            raise IngestionFailed("reading the document took too long") from None
        if len(chunks) > limit:
            raise IngestionFailed(
                f"the document is too large: over {limit} passages "
                "(KNOWLEDGE_MAX_CHUNKS); split it into smaller files"
            )
        return chunks, pages

    async def _index(
        self, document: KnowledgeDocument, chunks: list[Chunk], pages: int | None
    ) -> None:
        """Vectors first, then the rows and the document's `ready`, in one transaction."""
        base = self.base
        ids = [f"{document.id}:{chunk.seq}" for chunk in chunks]
        space = base.space(document.collection_id)
        for start in range(0, len(chunks), EMBED_BATCH):
            batch = chunks[start : start + EMBED_BATCH]
            vectors = await base.embedder.embed_passages([c.indexed_text for c in batch])
            await base.index.upsert(
                space, document.user_id, ids[start : start + EMBED_BATCH], vectors
            )
        async with base.sessions() as db:
            mine = await db.execute(
                update(KnowledgeDocument)
                .where(
                    KnowledgeDocument.id == document.id,
                    KnowledgeDocument.lease_owner == self.owner,
                    KnowledgeDocument.status == "processing",
                )
                .values(
                    status="ready",
                    chunks=len(chunks),
                    pages=pages,
                    error=None,
                    embedder=base.embedder.name,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=utcnow(),
                )
            )
            if mine.rowcount != 1:  # type: ignore[attr-defined]
                await db.rollback()  # deleted, or taken over, meanwhile
                await base.index.delete(space, document.user_id, ids)
                return
            db.add_all(
                KnowledgeChunk(
                    id=chunk_id,
                    document_id=document.id,
                    collection_id=document.collection_id,
                    user_id=document.user_id,
                    seq=chunk.seq,
                    text=chunk.text,
                    heading=chunk.heading[:500] if chunk.heading else None,
                    page=chunk.page,
                )
                for chunk_id, chunk in zip(ids, chunks, strict=True)
            )
            await index_chunks(db, document.user_id, document.collection_id, ids, chunks)
            await db.commit()

    async def _clear(self, document: KnowledgeDocument, *, vectors: bool) -> None:
        """Remove a document's passages and vectors (an earlier attempt's leftovers)."""
        async with self.base.sessions() as db:
            await unindex_documents(db, [document.id])
            await db.execute(
                delete(KnowledgeChunk).where(KnowledgeChunk.document_id == document.id)
            )
            await db.commit()
        if vectors:
            # Vector ids are "<document>:<seq>": ask for the ones an attempt could have made.
            ids = [f"{document.id}:{n}" for n in range(self.max_chunks + 1)]
            space = self.base.space(document.collection_id)
            for start in range(0, len(ids), 1000):
                await self.base.index.delete(space, document.user_id, ids[start : start + 1000])

    async def _fail(self, document: KnowledgeDocument, reason: str) -> None:
        log.info("knowledge: %s failed: %s", document.id, reason)
        with contextlib.suppress(MemoryUnavailable):
            await self._clear(document, vectors=True)
        async with self.base.sessions() as db:
            await db.execute(
                update(KnowledgeDocument)
                .where(KnowledgeDocument.id == document.id)
                .values(
                    status="failed",
                    error=reason[:2000],
                    chunks=0,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=utcnow(),
                )
            )
            await db.commit()
