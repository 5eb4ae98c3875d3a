"""The agent catalogue: the built-ins from code and the custom agents admins add."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.agents import BUILTIN_AGENTS, AgentSpec
from orchestrator.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from orchestrator.db.models import CustomAgent, utcnow

_BUILTINS = {agent.name: agent for agent in BUILTIN_AGENTS}


class AgentCatalog:
    """Looks agents up by name; custom ones are stored in the database."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def get(self, name: str) -> AgentSpec:
        """The agent called `name`, or `NotFound`."""
        if name in _BUILTINS:
            return _BUILTINS[name]
        async with self.sessions() as db:
            row = await db.get(CustomAgent, name)
        if row is None:
            raise NotFound(f"agent {name!r} not found")
        return AgentSpec.model_validate(row.spec)

    async def list(self) -> list[AgentSpec]:
        """Built-ins first, then custom agents by name."""
        async with self.sessions() as db:
            rows = await db.scalars(select(CustomAgent).order_by(CustomAgent.name))
            custom = [AgentSpec.model_validate(row.spec) for row in rows]
        return [*BUILTIN_AGENTS, *custom]

    async def create(self, spec: AgentSpec, created_by: int) -> AgentSpec:
        if spec.name in _BUILTINS:
            raise Conflict(f"{spec.name!r} is a built-in agent", code="builtin_agent")
        spec = spec.model_copy(update={"builtin": False})
        async with self.sessions() as db:
            db.add(
                CustomAgent(
                    name=spec.name, spec=spec.model_dump(mode="json"), created_by=created_by
                )
            )
            try:
                await db.commit()
            except IntegrityError:
                raise Conflict(
                    f"an agent named {spec.name!r} exists", code="agent_exists"
                ) from None
        return spec

    async def update(self, name: str, changes: dict[str, object]) -> AgentSpec:
        """Apply `changes` (already validated fields) to a custom agent."""
        if name in _BUILTINS:
            raise Forbidden(
                "built-in agents cannot be changed; create a custom one instead",
                code="builtin_agent_readonly",
            )
        async with self.sessions() as db:
            row = await db.get(CustomAgent, name)
            if row is None:
                raise NotFound(f"agent {name!r} not found")
            try:
                spec = AgentSpec.model_validate({**row.spec, **changes, "name": name})
            except ValidationError as exc:
                problem = exc.errors(include_url=False)[0]
                where = ".".join(map(str, problem["loc"]))
                raise InvalidInput(f"{where}: {problem['msg']}") from None
            row.spec = spec.model_dump(mode="json")
            row.updated_at = utcnow()
            await db.commit()
        return spec

    async def delete(self, name: str) -> None:
        if name in _BUILTINS:
            raise Forbidden("built-in agents cannot be removed", code="builtin_agent_readonly")
        async with self.sessions() as db:
            row = await db.get(CustomAgent, name)
            if row is None:
                raise NotFound(f"agent {name!r} not found")
            await db.delete(row)
            await db.commit()
