"""The long-lived parts of one process, built once from `Settings` and passed down.

The API gets it through lifespan state (`request.state.runtime`), the CLI builds its
own; tests build one with their own settings and collaborators.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestrator.core.config import Settings
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.services.accounts import LoginThrottle


@dataclass
class Runtime:
    """Settings, database and shared services of one process."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    login_throttle: LoginThrottle
    started_at: float = field(default_factory=time.time)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        """Wire the default collaborators for `settings`."""
        settings.signing_key()  # generate and persist the key before anything signs
        engine = create_engine(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_session_factory(engine),
            login_throttle=LoginThrottle(
                settings.login_max_failures, settings.login_lockout_seconds
            ),
        )

    async def close(self) -> None:
        await self.engine.dispose()
