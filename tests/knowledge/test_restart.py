"""A real server process killed with SIGKILL while it ingests a document: the restarted
process takes the document up again once its lease (KNOWLEDGE_LEASE_SECONDS) runs out and
ends it `ready`, with each passage indexed once; a document interrupted too often ends
`failed` with its reason. Never a `processing` that stays."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from orchestrator.db.models import KnowledgeDocument, utcnow
from orchestrator.knowledge import MAX_ATTEMPTS, VECTOR_PREFIX, Ingester, KnowledgeBase
from orchestrator.memory import ChromaIndex
from tests.knowledge.conftest import chunk_count
from tests.knowledge.samples import HARBOUR_LOG as TEXT
from tests.support import restart
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import free_port

# 1,500 paragraphs: about 130 passages, five embedding requests of 32.
LOG = "\n\n".join(
    f"Paragraph {n}: the harbour master logged {n} boats, a westerly wind and rain."
    for n in range(1500)
).encode()


@contextmanager
def server_process(data_dir: Path, model_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        "EMBEDDING_MODEL": "nomic-embed",  # the scripted model's vectors, at a pace it sets
        "KNOWLEDGE_LEASE_SECONDS": "2",
    }
    log = data_dir / f"server-{port}-{time.monotonic_ns()}.log"
    with restart.server_process(data_dir, model_url, port, env, start_seconds=90, log=log) as proc:
        yield proc


def embed_requests(model: ScriptedModelServer) -> int:
    return sum(1 for r in model.requests if r.path == "/api/embed")


def document(client: httpx.Client, collection: str, document_id: str) -> dict[str, Any]:
    response = client.get(f"/knowledge/{collection}/documents/{document_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_kill_9_while_ingesting_resumes_to_ready_after_the_lease(
    tmp_path: Path, model: ScriptedModelServer
) -> None:
    model.embed_delay = 0.4  # five batches: two seconds of embedding to be killed in
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    with server_process(tmp_path, model.url, port) as proc:
        client = httpx.Client(base_url=base, timeout=10)
        client.post("/auth/register", json={"username": "ingests", "password": "password-1"})
        token = client.post(
            "/auth/login", json={"username": "ingests", "password": "password-1"}
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        collection = client.post("/knowledge", json={"name": "Logs"}).json()["id"]
        uploaded = client.post(
            f"/knowledge/{collection}/documents", files={"file": ("log.txt", LOG, "text/plain")}
        )
        assert uploaded.status_code == 202, uploaded.text
        document_id = uploaded.json()["id"]
        deadline = time.monotonic() + 30
        while embed_requests(model) < 2:  # vectors of a first batch are written
            assert time.monotonic() < deadline, "ingestion never reached its second batch"
            time.sleep(0.02)
        assert document(client, collection, document_id)["status"] == "processing"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    model.embed_delay = 0.0
    with server_process(tmp_path, model.url, port):
        client = httpx.Client(base_url=base, timeout=10, headers=client.headers)
        deadline = time.monotonic() + 30
        while (doc := document(client, collection, document_id))["status"] not in {
            "ready",
            "failed",
        }:
            assert time.monotonic() < deadline, f"document stuck in {doc['status']}"
            time.sleep(0.1)
        assert doc["status"] == "ready", doc
        found = client.get(
            f"/knowledge/{collection}/search", params={"query": "harbour master"}
        ).json()["data"]
        assert found and {hit["document_id"] for hit in found} == {document_id}
    with sqlite3.connect(tmp_path / "orchestrator.db") as db:
        rows = db.execute(
            "SELECT count(*), count(DISTINCT seq) FROM knowledge_chunks WHERE document_id = ?",
            (document_id,),
        ).fetchone()
        keyword_rows = db.execute(
            "SELECT count(*) FROM knowledge_fts WHERE chunk_id LIKE ?", (f"{document_id}:%",)
        ).fetchone()[0]
        attempts = db.execute(
            "SELECT attempts FROM knowledge_documents WHERE id = ?", (document_id,)
        ).fetchone()[0]
    assert rows == (doc["chunks"], doc["chunks"]) and doc["chunks"] > 100
    assert keyword_rows == doc["chunks"]  # indexed once, nothing left from the dead attempt
    assert attempts == 2
    index = ChromaIndex(path=tmp_path / "knowledge" / "index", prefix=VECTOR_PREFIX)
    vectors = asyncio.run(index.count(f"model/nomic-embed#{collection}"))
    assert vectors == doc["chunks"]  # every passage has its vector, once


async def test_a_document_interrupted_too_often_fails_with_its_reason(
    kb: tuple[KnowledgeBase, int],
) -> None:
    base, user = kb
    collection = (await base.create_collection(user, "c")).id
    document = await base.add_document(user, collection, "log.txt", "text/plain", TEXT)
    async with base.sessions() as db:  # as MAX_ATTEMPTS killed processes leave it
        await db.execute(
            update(KnowledgeDocument)
            .where(KnowledgeDocument.id == document.id)
            .values(
                status="processing",
                attempts=MAX_ATTEMPTS,
                lease_owner="gone:1:dead",
                lease_expires_at=utcnow() - timedelta(seconds=1),
            )
        )
        await db.commit()
    ingester = Ingester(base, lease_seconds=30)
    await ingester.start()
    await ingester.idle()
    await ingester.stop()
    failed = await base.document(user, collection, document.id)
    assert failed.status == "failed"
    assert f"interrupted {MAX_ATTEMPTS} times" in (failed.error or "")
    assert failed.lease_owner is None and failed.chunks == 0
    assert await chunk_count(base) == 0


async def test_a_live_lease_is_not_taken_over(
    kb: tuple[KnowledgeBase, int],
) -> None:
    base, user = kb
    collection = (await base.create_collection(user, "c")).id
    document = await base.add_document(user, collection, "log.txt", "text/plain", TEXT)
    holder = Ingester(base, lease_seconds=30)
    assert (await holder._claim()) is not None
    other = Ingester(base, lease_seconds=30)
    assert await other._claim() is None  # still held: nobody ingests it twice
    row = await base.document(user, collection, document.id)
    assert row.status == "processing" and row.lease_owner == holder.owner
