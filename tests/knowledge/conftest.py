"""A real server with knowledge bases, the scripted model and the knowledge tool; helpers
to upload and wait for ingestion."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.db.models import KnowledgeChunk, User
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.knowledge import KnowledgeBase, create_knowledge_base
from orchestrator.knowledge.tools import register as register_knowledge_tools
from tests.conftest import Account, Api, scripted_gateway
from tests.memory.conftest import provider_embedder
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools


@pytest.fixture
def kb_api(settings: Settings, model: ScriptedModelServer) -> Iterator[Api]:
    """A real server on SQLite whose agents use the scripted model and search_knowledge."""
    settings = settings.model_copy(update={"ollama_url": model.url, "knowledge_max_chunks": 200})
    tools = sample_tools()
    register_knowledge_tools(tools)
    with serve_in_thread(
        create_app(settings, models=scripted_gateway(settings, model), tools=tools)
    ) as url:
        api = Api(url)
        yield api
        api.client.close()


def new_collection(api: Api, user: Account, name: str = "Docs") -> dict[str, Any]:
    response = api.client.post("/knowledge", json={"name": name}, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()


def upload(
    api: Api,
    user: Account,
    collection_id: str,
    filename: str,
    data: bytes,
    content_type: str = "application/octet-stream",
) -> Any:
    return api.client.post(
        f"/knowledge/{collection_id}/documents",
        files={"file": (filename, data, content_type)},
        headers=user.headers,
    )


def wait_done(
    api: Api, user: Account, collection_id: str, document_id: str, timeout: float = 60
) -> dict[str, Any]:
    """The document once ingestion ended (ready or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.client.get(
            f"/knowledge/{collection_id}/documents/{document_id}", headers=user.headers
        )
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        if document["status"] in ("ready", "failed"):
            return document
        assert time.monotonic() < deadline, f"still {document['status']} after {timeout} s"
        time.sleep(0.1)


def ingest(
    api: Api, user: Account, collection_id: str, filename: str, data: bytes
) -> dict[str, Any]:
    """Upload and wait until ready."""
    response = upload(api, user, collection_id, filename, data)
    assert response.status_code == 202, response.text
    document = wait_done(api, user, collection_id, response.json()["id"])
    assert document["status"] == "ready", document
    return document


@pytest.fixture
async def kb(settings: Settings) -> AsyncIterator[tuple[KnowledgeBase, int]]:
    """A knowledge base on SQLite (scripted-style vectors, no model) and one user's id."""
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    async with sessions() as db:
        user = User(username="ingest", password_hash="x")
        db.add(user)
        await db.commit()
        user_id = user.id
    yield create_knowledge_base(settings, sessions, provider_embedder()), user_id
    await engine.dispose()


async def chunk_count(base: KnowledgeBase) -> int:
    """How many passages the knowledge base holds, every user together."""
    async with base.sessions() as db:
        return await db.scalar(select(func.count()).select_from(KnowledgeChunk)) or 0
