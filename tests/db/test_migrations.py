"""The Alembic migrations build exactly the schema the models describe, on each database."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from orchestrator.core.config import Settings
from orchestrator.db.migrate import alembic_config, at_head, include_object, script_heads, upgrade
from orchestrator.db.models import Base


def test_migrations_have_a_single_head(settings: Settings) -> None:
    heads = ScriptDirectory.from_config(alembic_config(settings)).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}; chain them"


def test_the_heads_read_from_the_revision_files_are_alembics(settings: Settings) -> None:
    heads = ScriptDirectory.from_config(alembic_config(settings)).get_heads()
    assert script_heads() == frozenset(heads)


def test_a_database_at_the_head_is_left_without_importing_alembic(settings: Settings) -> None:
    code = (
        "import sys\n"
        "from orchestrator.core.config import Settings\n"
        "from orchestrator.db.migrate import upgrade\n"
        f"upgrade(Settings(_env_file=None, data_dir={str(settings.data_dir)!r}))\n"
        "print('alembic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


def test_a_database_behind_the_head_is_not_taken_for_one(settings: Settings) -> None:
    assert at_head(settings)
    command.downgrade(alembic_config(settings), "-1")
    assert not at_head(settings)
    upgrade(settings)
    assert at_head(settings)


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
