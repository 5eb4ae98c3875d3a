"""Record what each tool call changed in the workspace, per run.

A file tool that declares the paths it touches is captured on exactly those paths
(their subtrees and parents); any other tool that can write (risk `write` or `exec`:
commands, run_python, git_*, run_*) by comparing the whole workspace before and after.
Each changed path keeps one row per run: its state before the run first changed it,
and after the run last did.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.changes._snapshot import Capture, PathState, Snapshots, differences
from orchestrator.db.models import WorkspaceChange, utcnow
from orchestrator.tools.base import Tool

log = logging.getLogger(__name__)


@dataclass
class Tracking:
    """A capture taken before one call, to compare with the one after."""

    tool: str
    paths: list[str] | None
    before: Capture


@dataclass
class ChangeRecorder:
    """Captures around one run's tool calls and stores the differences."""

    snapshots: Snapshots
    sessions: async_sessionmaker[AsyncSession]
    workspace: Path
    user_id: int
    run_id: str

    async def before(self, tool: Tool, arguments: dict[str, Any]) -> Tracking | None:
        """Capture what the call may change; None for a tool that changes nothing."""
        if not tool.changes_workspace:
            return None
        paths: list[str] | None = None
        if tool.touches is not None:
            try:
                paths = list(tool.touches(arguments))
            except (KeyError, TypeError, ValueError):
                paths = None
        before = await asyncio.to_thread(self.snapshots.capture, self.workspace, paths)
        return Tracking(tool.name, paths, before)

    async def after(self, tracking: Tracking) -> int:
        """Compare, and store what changed; the number of paths."""
        after = await asyncio.to_thread(self.snapshots.capture, self.workspace, tracking.paths)
        changed = differences(tracking.before, after)
        if changed:
            await self._store(tracking.tool, changed)
        return len(changed)

    async def _store(
        self, tool: str, changed: dict[str, tuple[PathState | None, PathState | None]]
    ) -> None:
        now = utcnow()
        async with self.sessions() as db:
            rows = await db.scalars(
                select(WorkspaceChange).where(
                    WorkspaceChange.run_id == self.run_id,
                    WorkspaceChange.path.in_(list(changed)),
                )
            )
            existing = {row.path: row for row in rows}
            for path, (old, new) in sorted(changed.items()):
                row = existing.get(path)
                if row is None:
                    row = WorkspaceChange(
                        run_id=self.run_id,
                        user_id=self.user_id,
                        path=path,
                        before_kind=old.kind if old else None,
                        before_size=old.size if old and old.kind == "file" else None,
                        before_sha=old.sha256 if old else None,
                        created_at=now,
                        tool=tool,
                    )
                    db.add(row)
                row.after_kind = new.kind if new else None
                row.after_size = new.size if new and new.kind == "file" else None
                row.after_sha = new.sha256 if new else None
                row.tool = tool
                row.updated_at = now
                row.reverted_at = None
                if (row.before_kind, row.before_sha) == (row.after_kind, row.after_sha) and (
                    row.before_kind == "dir" or row.before_sha is not None
                ):
                    # Back as it was before the run: nothing to show or revert.
                    if path in existing:
                        await db.delete(row)
                    else:
                        db.expunge(row)
            await db.commit()
