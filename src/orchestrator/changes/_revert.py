"""A run's recorded changes as the API shows them, and putting them back."""

from __future__ import annotations

import asyncio
import difflib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.changes._snapshot import Snapshots
from orchestrator.core.errors import Conflict, ToolError
from orchestrator.db.models import WorkspaceChange, utcnow
from orchestrator.tools.workspace import Workspace, ops

MAX_DIFF_BYTES = 256 * 1024
MAX_DIFF_CHARS = 40_000


class ChangeOut(BaseModel):
    """One path a run changed."""

    path: str
    action: Literal["created", "modified", "deleted", "moved"]
    kind: Literal["file", "dir"]
    size_before: int | None
    size_after: int | None
    moved_from: str | None = None
    revertible: bool
    reverted: bool
    diff: str | None = None  # unified diff for text files


class RevertResult(BaseModel):
    """What a revert put back, and what it could not."""

    reverted: list[str]
    skipped: list[str]


def _action(row: WorkspaceChange) -> str:
    if row.before_kind is None:
        return "created"
    if row.after_kind is None:
        return "deleted"
    return "modified"


def _revertible(row: WorkspaceChange) -> bool:
    return row.before_kind != "file" or row.before_sha is not None


def _text(snapshots: Snapshots, sha: str | None) -> str | None:
    if sha is None:
        return ""
    data = snapshots.blobs.get(sha)
    if data is None or len(data) > MAX_DIFF_BYTES or b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _diff(snapshots: Snapshots, row: WorkspaceChange) -> str | None:
    if "file" not in (row.before_kind, row.after_kind):
        return None
    old = _text(snapshots, row.before_sha) if row.before_kind == "file" else ""
    new = _text(snapshots, row.after_sha) if row.after_kind == "file" else ""
    if old is None or new is None:
        return None
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        f"a/{row.path}" if row.before_kind else "/dev/null",
        f"b/{row.path}" if row.after_kind else "/dev/null",
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return text[:MAX_DIFF_CHARS]


async def _rows(db: AsyncSession, run_id: str) -> list[WorkspaceChange]:
    found = await db.scalars(
        select(WorkspaceChange)
        .where(WorkspaceChange.run_id == run_id)
        .order_by(WorkspaceChange.path)
    )
    return list(found)


async def list_changes(
    db: AsyncSession, snapshots: Snapshots, run_id: str, *, diffs: bool = True
) -> list[ChangeOut]:
    """The run's changes, moves paired up (a deleted file whose content a new file has)."""
    rows = await _rows(db, run_id)
    created = {
        r.after_sha: r
        for r in rows
        if _action(r) == "created" and r.after_kind == "file" and r.after_sha
    }
    moved_from: dict[str, str] = {}
    hidden: set[str] = set()
    for row in rows:
        if _action(row) == "deleted" and row.before_kind == "file" and row.before_sha in created:
            target = created.pop(row.before_sha)  # type: ignore[arg-type]
            moved_from[target.path] = row.path
            hidden.add(row.path)

    def out(row: WorkspaceChange) -> ChangeOut:
        action = "moved" if row.path in moved_from else _action(row)
        return ChangeOut(
            path=row.path,
            action=action,  # type: ignore[arg-type]
            kind="dir" if "dir" in (row.before_kind, row.after_kind) else "file",
            size_before=row.before_size,
            size_after=row.after_size,
            moved_from=moved_from.get(row.path),
            revertible=_revertible(row),
            reverted=row.reverted_at is not None,
            diff=_diff(snapshots, row) if diffs and action != "moved" else None,
        )

    return await asyncio.to_thread(lambda: [out(r) for r in rows if r.path not in hidden])


async def _later_changes(db: AsyncSession, rows: list[WorkspaceChange]) -> list[str]:
    """Paths another run of the same user changed after this run did (and not reverted)."""
    if not rows:
        return []
    newest = {row.path: row.updated_at for row in rows}
    others = await db.scalars(
        select(WorkspaceChange).where(
            WorkspaceChange.user_id == rows[0].user_id,
            WorkspaceChange.run_id != rows[0].run_id,
            WorkspaceChange.path.in_(list(newest)),
            WorkspaceChange.reverted_at.is_(None),
        )
    )
    return sorted({o.path for o in others if o.updated_at > newest[o.path]})


def _restore(workspace: Path, snapshots: Snapshots, rows: list[WorkspaceChange]) -> RevertResult:
    ws = Workspace(workspace)
    reverted: list[str] = []
    skipped: list[str] = []
    # Undo what the run created, deepest first, then put back what it changed or deleted.
    for row in sorted(rows, key=lambda r: r.path.count("/"), reverse=True):
        if row.before_kind is None and row.after_kind is not None:
            try:
                ops.delete(ws, row.path, recursive=row.after_kind == "dir")
            except ToolError as exc:
                if "does not exist" not in exc.message:
                    skipped.append(f"{row.path}: {exc.message}")
                    continue
            reverted.append(row.path)
    for row in sorted(rows, key=lambda r: r.path.count("/")):
        if row.before_kind == "dir":
            ops.make_directory(ws, row.path)
            reverted.append(row.path)
        elif row.before_kind == "file":
            data = snapshots.blobs.get(row.before_sha) if row.before_sha else None
            if data is None:
                skipped.append(f"{row.path}: its content before the run was not kept (too large)")
                continue
            try:
                if row.after_kind == "dir":
                    ops.delete(ws, row.path, recursive=True)
                ops.write_bytes(ws, row.path, data)
            except ToolError as exc:
                skipped.append(f"{row.path}: {exc.message}")
                continue
            reverted.append(row.path)
    return RevertResult(reverted=reverted, skipped=skipped)


async def revert_run(
    db: AsyncSession, snapshots: Snapshots, workspace: Path, run_id: str, *, force: bool
) -> RevertResult:
    """Put every path the run changed back as it was before the run.

    `Conflict` when another run changed one of them later (unless `force`).
    """
    rows = [r for r in await _rows(db, run_id) if r.reverted_at is None]
    if not force:
        later = await _later_changes(db, rows)
        if later:
            shown = ", ".join(later[:10]) + (" ..." if len(later) > 10 else "")
            raise Conflict(
                f"a later run changed {shown} since; revert that run first, or pass "
                '{"force": true} to overwrite its changes',
                paths=later,
            )
    result = await asyncio.to_thread(_restore, workspace, snapshots, rows)
    now = utcnow()
    failed = {s.split(":", 1)[0] for s in result.skipped}
    for row in rows:
        if row.path not in failed:
            row.reverted_at = now
    await db.commit()
    return result
