"""The Alembic migrations build exactly the schema the models describe, on each database."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from orchestrator.core.config import Settings
from orchestrator.db.migrate import alembic_config, include_object, upgrade
from orchestrator.db.models import Base


def test_migrations_have_a_single_head(settings: Settings) -> None:
    heads = ScriptDirectory.from_config(alembic_config(settings)).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}; chain them"


def test_migrated_schema_matches_the_models(any_db_settings: Settings) -> None:
    upgrade(any_db_settings)

    async def differences() -> list[object]:
        engine = create_async_engine(any_db_settings.resolved_database_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(
                        MigrationContext.configure(sync, opts={"include_object": include_object}),
                        Base.metadata,
                    )
                )
        finally:
            await engine.dispose()

    diff = asyncio.run(differences())
    assert diff == [], f"models and migrations differ: {diff}"
