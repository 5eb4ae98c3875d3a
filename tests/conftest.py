"""Shared fixtures: settings on a fresh database, a real server, users and their tokens.

Database-backed tests run on SQLite; those that take `any_db_settings` run on Postgres
too (required in CI, skipped with a reason on a laptop without it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.db.migrate import upgrade
from orchestrator.llm.gateway import ModelGateway
from orchestrator.llm.ollama import OllamaProvider
from tests.support.scripted_model import ScriptedModel, ScriptedModelServer
from tests.support.server import serve_in_thread
from tests.support.tools import sample_tools

IN_CI = os.environ.get("CI") == "true"
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def require_service(name: str, reachable: bool) -> None:
    """Fail in CI, skip with a reason elsewhere, when a service is missing."""
    if reachable:
        return
    message = f"{name} is not reachable"
    if IN_CI:
        pytest.fail(f"{message}, and CI must run these tests")
    pytest.skip(f"{message}; start it to run this test")


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "secret_key": TEST_SECRET,
        "registration": "open",
        "ollama_url": "http://127.0.0.1:9",  # nothing listens: tests opt into a model server
        # Tests fire requests far faster than people: the limiter runs, at a limit they
        # never reach (tests/api/test_rate_limit.py sets its own).
        "rate_limit_per_minute": 1_000_000,
        "rate_limit_burst": 100_000,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test (migrating each time is slower)."""
    data_dir = tmp_path_factory.mktemp("template")
    upgrade(make_settings(data_dir))
    return data_dir / "orchestrator.db"


@pytest.fixture
def settings(tmp_path: Path, sqlite_template: Path) -> Settings:
    shutil.copy(sqlite_template, tmp_path / "orchestrator.db")
    return make_settings(tmp_path)


def _pg(dsn: str, *statements: str) -> list[str]:
    """Run statements on Postgres with asyncpg; returns the first column of the last one."""

    async def run() -> list[str]:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            rows: list[asyncpg.Record] = []
            for statement in statements:
                rows = await conn.fetch(statement)
            return [row[0] for row in rows]
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated Postgres database for this test session."""
    name = f"orch_test_{uuid.uuid4().hex[:8]}"
    try:
        _pg(POSTGRES_URL, f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        require_service(f"PostgreSQL at {POSTGRES_URL} ({exc.__class__.__name__})", False)
    dsn = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(
        make_settings(
            Path("/tmp"), database_url=dsn.replace("postgresql://", "postgresql+asyncpg://")
        )
    )
    yield dsn
    _pg(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_settings(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Settings:
    """Settings on SQLite, then on Postgres (tables emptied before each test)."""
    if request.param == "sqlite":
        shutil.copy(sqlite_template, tmp_path / "orchestrator.db")
        return make_settings(tmp_path)
    dsn: str = request.getfixturevalue("postgres_database")
    tables = _pg(
        dsn,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename <> 'alembic_version'",
    )
    _pg(dsn, f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    return make_settings(
        tmp_path, database_url=dsn.replace("postgresql://", "postgresql+asyncpg://")
    )


@dataclass
class Account:
    """A logged-in user of the test server."""

    id: int
    username: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """An httpx client on a real server, with helpers to make accounts."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=f"{base_url}/api/v1", timeout=30)

    def register(self, username: str | None = None, password: str = "correct-horse-1") -> Account:
        """Register and log in (the first account is the admin)."""
        username = username or f"user{uuid.uuid4().hex[:8]}"
        response = self.client.post(
            "/auth/register", json={"username": username, "password": password}
        )
        assert response.status_code == 201, response.text
        return self.login(username, password)

    def login(self, username: str, password: str) -> Account:
        response = self.client.post(
            "/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        return Account(body["user"]["id"], username, password, body["access_token"])


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    """A real server on SQLite."""
    with serve_in_thread(create_app(settings)) as url:
        api = Api(url)
        yield api
        api.client.close()


@pytest.fixture
def any_db_api(any_db_settings: Settings) -> Iterator[Api]:
    """A real server on SQLite, then on Postgres."""
    with serve_in_thread(create_app(any_db_settings)) as url:
        api = Api(url)
        yield api
        api.client.close()


SCRIPTED_MODELS = (
    ScriptedModel("scripted"),
    ScriptedModel("plain", capabilities=("completion",)),
    ScriptedModel("nomic-embed", capabilities=("embedding",)),
)


@pytest.fixture(scope="session")
def scripted() -> Iterator[ScriptedModelServer]:
    """One scripted model server (Ollama's protocol over real HTTP) for the session."""
    with ScriptedModelServer(SCRIPTED_MODELS) as server:
        yield server


@pytest.fixture
def model(scripted: ScriptedModelServer) -> Iterator[ScriptedModelServer]:
    """The scripted model, reset; a test that queues replies nobody asked for fails."""
    scripted.reset()
    scripted.set_models(SCRIPTED_MODELS)
    scripted.token_delay = 0.0
    scripted.embed_delay = 0.0
    scripted.default = None
    yield scripted
    leftover = scripted.pending
    scripted.reset()
    assert leftover == 0, f"{leftover} scripted replies were never asked for"


def scripted_gateway(settings: Settings, server: ScriptedModelServer) -> ModelGateway:
    """A gateway whose only provider is Ollama's protocol on the scripted server."""
    return ModelGateway(settings, providers=[OllamaProvider(server.url)], cache_seconds=0)


@pytest.fixture
def chat_api(settings: Settings, model: ScriptedModelServer) -> Iterator[Api]:
    """A real server whose agents talk to the scripted model and use the test tools."""
    settings = settings.model_copy(update={"ollama_url": model.url, "approval_timeout": 10.0})
    app = create_app(settings, models=scripted_gateway(settings, model), tools=sample_tools())
    with serve_in_thread(app) as url:
        api = Api(url)
        yield api
        api.client.close()
