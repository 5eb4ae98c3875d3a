"""A run's changes to the workspace, and undoing them."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict

from orchestrator.api.deps import CurrentUser, SessionDep, SettingsDep
from orchestrator.api.routing import ApiRouter
from orchestrator.changes import ChangeOut, RevertResult, Snapshots, list_changes, revert_run
from orchestrator.core.config import Settings
from orchestrator.runs import service
from orchestrator.schemas.common import Page
from orchestrator.tools.workspace import Workspace

router = ApiRouter(prefix="/runs", tags=["runs"])


class RevertRequest(BaseModel):
    """`force`: revert even the paths a later run changed since."""

    model_config = ConfigDict(extra="forbid")

    force: bool = False


def _snapshots(settings: Settings) -> Snapshots:
    return Snapshots(settings.data_dir, settings.change_max_file_bytes)


@router.get("/{run_id}/changes")
async def run_changes(
    run_id: str, user: CurrentUser, db: SessionDep, settings: SettingsDep
) -> Page[ChangeOut]:
    """What the run changed in the workspace, with a diff for each text file."""
    await service.get_run(db, user.id, run_id)
    changes = await list_changes(db, _snapshots(settings), run_id)
    return Page(data=changes, count=len(changes))


@router.post("/{run_id}/revert")
async def revert_changes(
    run_id: str,
    user: CurrentUser,
    db: SessionDep,
    settings: SettingsDep,
    body: RevertRequest | None = None,
) -> RevertResult:
    """Put every path the run changed back as it was (409 if a later run changed one)."""
    await service.get_run(db, user.id, run_id)
    workspace = await asyncio.to_thread(Workspace.for_user, settings, user.id)
    force = body.force if body is not None else False
    result = await revert_run(db, _snapshots(settings), workspace.root, run_id, force=force)
    await asyncio.to_thread(workspace.usage_changed)  # files were put back behind its count
    return result
