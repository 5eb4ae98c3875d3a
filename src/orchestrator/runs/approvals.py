"""Approvals: a risky tool call waits here for its user's decision.

The decision is stored on the `Approval` row (the truth) and also wakes the waiter in
this process at once; a waiter in another process sees the row within `POLL_SECONDS`,
or at once when `announce` tells the other processes (over Redis) to `wake` it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.core.errors import Conflict, NotFound
from orchestrator.db.models import Approval, utcnow

Decision = Literal["approve", "deny"]
Decided = Literal["approved", "denied"]
POLL_SECONDS = 2.0


class ApprovalBroker:
    """Creates approvals, waits for them and records decisions."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        announce: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.announce = announce  # tells other processes a decision was stored
        self._waiters: dict[str, asyncio.Event] = {}

    async def create(
        self,
        *,
        run_id: str,
        user_id: int,
        tool: str,
        params: dict[str, object],
        risk: str,
        tainted_by: dict[str, object] | None = None,
    ) -> str:
        """Store a pending approval; `tainted_by` names the untrusted content behind it."""
        async with self.sessions() as db:
            approval = Approval(
                run_id=run_id,
                user_id=user_id,
                tool=tool,
                params=params,
                risk=risk,
                tainted_by=tainted_by,
            )
            db.add(approval)
            await db.commit()
            return approval.id

    async def wait(self, approval_id: str, seconds: float) -> str:
        """The final status: "approved", "denied", or "expired" when nobody answered in time."""
        event = self._waiters.setdefault(approval_id, asyncio.Event())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:
            while True:
                status = await self._status(approval_id)
                if status != "pending":
                    return status
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(remaining, POLL_SECONDS))
        finally:
            self._waiters.pop(approval_id, None)
        if await self._set(approval_id, "expired"):
            return "expired"
        return await self._status(approval_id)  # decided at the last moment

    async def decide(
        self, *, run_id: str, approval_id: str, user_id: int, decision: Decision
    ) -> Decided:
        """Record the user's decision; another user's approval answers `NotFound`."""
        async with self.sessions() as db:
            approval = await db.scalar(
                select(Approval).where(
                    Approval.id == approval_id,
                    Approval.run_id == run_id,
                    Approval.user_id == user_id,
                )
            )
        if approval is None:
            raise NotFound("approval not found")
        status: Decided = "approved" if decision == "approve" else "denied"
        if not await self._set(approval_id, status):
            raise Conflict(f"this approval is already {await self._status(approval_id)}")
        self.wake(approval_id)
        if self.announce is not None:
            await self.announce(approval_id)
        return status

    def wake(self, approval_id: str) -> None:
        """Make a waiter in this process read its approval's row now."""
        waiter = self._waiters.get(approval_id)
        if waiter is not None:
            waiter.set()

    async def _status(self, approval_id: str) -> str:
        async with self.sessions() as db:
            status = await db.scalar(select(Approval.status).where(Approval.id == approval_id))
        return status or "expired"

    async def _set(self, approval_id: str, status: str) -> bool:
        """Move a pending approval to `status`; False if it was no longer pending."""
        async with self.sessions() as db:
            result = await db.execute(
                update(Approval)
                .where(Approval.id == approval_id, Approval.status == "pending")
                .values(status=status, decided_at=utcnow())
            )
            await db.commit()
            return bool(result.rowcount)  # type: ignore[attr-defined]
