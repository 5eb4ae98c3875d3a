"""Migration 0005_chat upgrades a database that already holds conversations: each linear
history becomes a chain (every message below the one before it), the last message ends
the active branch, and the old messages are searchable."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from orchestrator.conversations import search
from orchestrator.core.config import Settings
from orchestrator.db.migrate import upgrade
from orchestrator.db.session import create_session_factory
from tests.conftest import POSTGRES_URL, _pg, make_settings, require_service

BEFORE = "0005_evals"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A database migrated only up to the revision before 0005_chat."""
    if request.param == "sqlite":
        settings = make_settings(tmp_path)
        upgrade(settings, BEFORE)
        yield settings
        return
    name = f"orch_mig_{uuid.uuid4().hex[:8]}"
    try:
        _pg(POSTGRES_URL, f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError) as exc:
        require_service(f"PostgreSQL at {POSTGRES_URL} ({exc.__class__.__name__})", False)
    dsn = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    settings = make_settings(
        tmp_path, database_url=dsn.replace("postgresql://", "postgresql+asyncpg://")
    )
    upgrade(settings, BEFORE)
    yield settings
    _pg(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _execute(settings: Settings, *statements: tuple[str, dict[str, object]]) -> list[tuple]:
    engine = create_async_engine(settings.resolved_database_url)
    try:
        async with engine.begin() as conn:
            rows: list[tuple] = []
            for sql, params in statements:
                result = await conn.execute(text(sql), params)
                rows = [tuple(r) for r in result] if result.returns_rows else []
            return rows
    finally:
        await engine.dispose()


def _fill(settings: Settings) -> None:
    """Two users' conversations, written as the first wave wrote them (no parents)."""
    now = datetime(2026, 11, 1, 10, tzinfo=UTC)
    statements: list[tuple[str, dict[str, object]]] = []
    for user_id, name in ((1, "alice"), (2, "bob")):
        statements.append(
            (
                "INSERT INTO users (id, username, password_hash, role, is_active, "
                "token_version, created_at) VALUES (:id, :name, 'x', 'user', true, 0, :now)",
                {"id": user_id, "name": name, "now": now},
            )
        )
    conversations = [
        ("c-alice", 1, "Travel plans"),
        ("c-bob", 2, "Recipes"),
        ("c-empty", 1, "Empty"),
    ]
    for cid, user_id, title in conversations:
        statements.append(
            (
                "INSERT INTO conversations (id, user_id, title, created_at, updated_at) "
                "VALUES (:id, :user_id, :title, :now, :now)",
                {"id": cid, "user_id": user_id, "title": title, "now": now},
            )
        )
    # Interleaved ids across conversations, as concurrent chats write them.
    messages = [
        (1, "c-alice", "user", "Where should I go in June?"),
        (2, "c-bob", "user", "A soup recipe"),
        (3, "c-alice", "assistant", "Lisbon is lovely"),
        (4, "c-bob", "assistant", "Try a leek soup"),
        (5, "c-alice", "user", "Send me a résumé of the plan"),
        (6, "c-alice", "assistant", "Here it is"),
    ]
    for mid, cid, role, content in messages:
        statements.append(
            (
                "INSERT INTO messages (id, conversation_id, role, content, tools_used, "
                "created_at) VALUES (:id, :cid, :role, :content, '[]', :now)",
                {"id": mid, "cid": cid, "role": role, "content": content, "now": now},
            )
        )
    asyncio.run(_execute(settings, *statements))


def test_upgrade_turns_linear_histories_into_chains(old_database: Settings) -> None:
    _fill(old_database)
    upgrade(old_database)
    parents = dict(asyncio.run(_execute(old_database, ("SELECT id, parent_id FROM messages", {}))))
    assert parents == {1: None, 3: 1, 5: 3, 6: 5, 2: None, 4: 2}
    active = dict(
        asyncio.run(_execute(old_database, ("SELECT id, active_message_id FROM conversations", {})))
    )
    assert active == {"c-alice": 6, "c-bob": 4, "c-empty": None}

    async def found(user_id: int, query: str) -> list[tuple[str, int | None]]:
        engine = create_async_engine(old_database.resolved_database_url)
        try:
            async with create_session_factory(engine)() as db:
                return [(h.conversation_id, h.message_id) for h in await search(db, user_id, query)]
        finally:
            await engine.dispose()

    # The old messages and titles are indexed, accents folded, each user's own only.
    assert asyncio.run(found(1, "resume")) == [("c-alice", 5)]
    assert asyncio.run(found(1, "travel")) == [("c-alice", None)]
    assert asyncio.run(found(2, "lisbon")) == []
    assert asyncio.run(found(2, "leek")) == [("c-bob", 4)]
