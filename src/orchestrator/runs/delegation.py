"""Delegation: a sub-task handed to another agent runs as a nested run of the caller.

The child runs inline, inside the parent's task, so cancelling the parent cancels it;
its events go to its own log (`parent_run_id` links the two); a depth limit stops
agents from delegating without end.

Taint crosses delegation both ways: a child of a tainted run starts tainted (its task
was written by a model that read untrusted content), and a child that read untrusted
content taints its parent (its answer carries that content back).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.agents import AgentSpec
from orchestrator.core.config import Settings
from orchestrator.core.errors import NotFound, ToolError
from orchestrator.db.models import Run


@dataclass
class Delegator:
    """Creates and runs child runs for the `delegate` tool."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    agents: Callable[[str], Awaitable[AgentSpec]]
    run_child: Callable[[str], Awaitable[None]]

    async def delegate(self, parent: Run, agent: str, task: str) -> str:
        """Run `task` with `agent` as a child of `parent`; its answer as JSON text."""
        try:
            spec = await self.agents(agent)
        except NotFound as exc:
            raise ToolError(exc.message) from None
        depth = await self._depth(parent)
        if depth >= self.settings.max_delegation_depth:
            raise ToolError(
                f"delegation depth limit ({self.settings.max_delegation_depth}) "
                "reached: do this yourself"
            )
        async with self.sessions() as db:
            parent_taint = await db.scalar(select(Run.tainted_by).where(Run.id == parent.id))
            child = Run(
                user_id=parent.user_id,
                kind="task",
                goal=task,
                agent=spec.name,
                model=parent.model,
                parent_run_id=parent.id,
                tainted_by=parent_taint or None,
            )
            db.add(child)
            await db.commit()
            child_id = child.id
        await self.run_child(child_id)
        async with self.sessions() as db:
            done = await db.get(Run, child_id)
            assert done is not None
            if done.tainted_by and not parent_taint:
                await db.execute(
                    update(Run).where(Run.id == parent.id).values(tainted_by=done.tainted_by)
                )
                await db.commit()
        if done.status != "succeeded":
            raise ToolError(
                f"the {spec.name} agent did not finish ({done.status}): "
                f"{done.error or 'no answer'} (run {child_id})"
            )
        return json.dumps({"agent": spec.name, "run_id": child_id, "answer": done.result or ""})

    async def _depth(self, run: Run) -> int:
        """How many ancestors `run` has."""
        depth, parent_id = 0, run.parent_run_id
        async with self.sessions() as db:
            while parent_id is not None and depth <= self.settings.max_delegation_depth:
                depth += 1
                parent = await db.get(Run, parent_id)
                parent_id = parent.parent_run_id if parent else None
        return depth
