"""Admission under the user's row lock: two database pools (as two API processes have)
admitting at once on Postgres let exactly the quota in."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from orchestrator.core.config import Settings
from orchestrator.core.errors import QuotaExceeded
from orchestrator.db.migrate import upgrade
from orchestrator.db.models import Run, User, UserQuota
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.usage import Quotas


def test_two_pools_admitting_at_once_let_in_exactly_the_quota(any_db_settings: Settings) -> None:
    if any_db_settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("SQLite serves one process, whose RunService lock serialises admissions")
    upgrade(any_db_settings)

    async def scenario() -> tuple[int, int]:
        engines = [create_engine(any_db_settings) for _ in range(2)]
        pools = [create_session_factory(e) for e in engines]
        try:
            async with pools[0]() as db:
                user = User(username="quota-user", password_hash="x", role="user")
                db.add(user)
                await db.flush()
                db.add(UserQuota(user_id=user.id, concurrent_runs=2))
                await db.commit()
                user_id = user.id
            refused = 0

            async def start(index: int) -> None:
                nonlocal refused
                sessions = pools[index % 2]
                async with sessions() as db:
                    try:
                        await Quotas(any_db_settings, sessions).admit(db, user_id)
                    except QuotaExceeded:
                        refused += 1
                        return
                    db.add(Run(user_id=user_id, goal=f"g{index}", agent="assistant"))
                    await asyncio.sleep(0.01)  # hold the lock a while: others must wait
                    await db.commit()

            await asyncio.gather(*(start(i) for i in range(12)))
            async with pools[1]() as db:
                admitted = await db.scalar(select(func.count()).select_from(Run)) or 0
            return admitted, refused
        finally:
            for engine in engines:
                await engine.dispose()

    assert asyncio.run(scenario()) == (2, 10)
