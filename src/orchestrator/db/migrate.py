"""Apply Alembic migrations programmatically (`orchestrator migrate`, `make run`).

Every start of `serve` and `worker` migrates. When the database is already at the head
(nearly always), Alembic is not even imported: the heads are read from the revision files
themselves and compared with the `alembic_version` table. Alembic, Mako and the migration
modules would otherwise stay in the server's memory for its whole life (about 10 MB)."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from orchestrator.core.config import Settings

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# What no model describes: the knowledge and conversation keyword indexes (SQLite FTS5
# tables and their shadow tables; Postgres expression indexes).
UNMODELLED_TABLES = ("knowledge_fts", "conversation_fts")
UNMODELLED_INDEXES = ("ix_knowledge_chunks_fts", "ix_messages_fts", "ix_conversations_fts")
VERSION_QUERY = "SELECT version_num FROM alembic_version"


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    """Autogenerate's filter: leave out what lives outside the models."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(UNMODELLED_TABLES)
    return not (type_ == "index" and name in UNMODELLED_INDEXES)


def alembic_config(settings: Settings) -> Config:
    """An Alembic config pointing at our migrations and the configured database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.resolved_database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database schema to `revision`; safe to call from several processes."""
    settings.ensure_data_dir()
    if revision == "head" and at_head(settings):
        return
    from alembic import command

    command.upgrade(alembic_config(settings), revision)


def at_head(settings: Settings) -> bool:
    """Whether the database's recorded revisions are exactly the heads of the revision
    files; False whenever that cannot be told (no table yet, files not read): the caller
    then asks Alembic, which decides."""
    heads = script_heads()
    if not heads:
        return False
    try:
        return recorded_revisions(settings.resolved_database_url) == heads
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        log.debug("revision not read (%s): Alembic decides", exc)
        return False


def recorded_revisions(url: str) -> set[str]:
    """The revisions in the database's `alembic_version` table (raises if there is none)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # Read-only, through the standard library: no file is created, no thread started.
        database = Path(parsed.database or "").resolve().as_uri()
        with contextlib.closing(
            sqlite3.connect(f"{database}?mode=ro", uri=True, timeout=30)
        ) as connection:
            return {row[0] for row in connection.execute(VERSION_QUERY)}

    async def read() -> set[str]:
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                return {row[0] for row in await connection.execute(text(VERSION_QUERY))}
        finally:
            await engine.dispose()

    return asyncio.run(read())


@functools.cache
def script_heads(versions: Path = MIGRATIONS / "versions") -> frozenset[str]:
    """The head revisions of the revision files (those no other revision comes down from),
    read from their `revision` and `down_revision` assignments; empty if any file is not
    of that simple shape."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        found: dict[str, Any] = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target: ast.expr | None = None
            value: ast.expr | None = None
            if isinstance(node, ast.AnnAssign):
                target, value = node.target, node.value
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                try:
                    found[target.id] = ast.literal_eval(value) if value is not None else None
                except ValueError:
                    return frozenset()
        revision, down = found.get("revision"), found.get("down_revision")
        if not isinstance(revision, str):
            return frozenset()
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(down)
        elif down is not None:
            return frozenset()
    return frozenset(revisions - parents)
