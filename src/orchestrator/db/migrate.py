"""Apply Alembic migrations programmatically (`orchestrator migrate`, `make run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

from orchestrator.core.config import Settings

MIGRATIONS = Path(__file__).with_name("migrations")
# What no model describes: the knowledge and conversation keyword indexes (SQLite FTS5
# tables and their shadow tables; Postgres expression indexes).
UNMODELLED_TABLES = ("knowledge_fts", "conversation_fts")
UNMODELLED_INDEXES = ("ix_knowledge_chunks_fts", "ix_messages_fts", "ix_conversations_fts")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, other: Any) -> bool:
    """Autogenerate's filter: leave out what lives outside the models."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(UNMODELLED_TABLES)
    return not (type_ == "index" and name in UNMODELLED_INDEXES)


def alembic_config(settings: Settings) -> Config:
    """An Alembic config pointing at our migrations and the configured database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.resolved_database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database schema to `revision`; safe to call from several processes."""
    settings.ensure_data_dir()
    command.upgrade(alembic_config(settings), revision)
