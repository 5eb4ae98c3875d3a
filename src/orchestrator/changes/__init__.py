"""A workspace you can undo: every change a run makes is recorded and can be reverted.

snapshots = Snapshots(settings.data_dir, settings.change_max_file_bytes)
recorder = ChangeRecorder(snapshots, sessions, workspace_root, user_id, run_id)
tracking = await recorder.before(tool, arguments)   # around each tool call
await recorder.after(tracking)
await list_changes(db, snapshots, run_id)           # GET /runs/{id}/changes
await revert_run(db, snapshots, root, run_id, force=False)   # POST /runs/{id}/revert
"""

from orchestrator.changes._recorder import ChangeRecorder, Tracking
from orchestrator.changes._revert import ChangeOut, RevertResult, list_changes, revert_run
from orchestrator.changes._snapshot import BlobStore, PathState, Snapshots, differences

__all__ = [
    "BlobStore",
    "ChangeOut",
    "ChangeRecorder",
    "PathState",
    "RevertResult",
    "Snapshots",
    "Tracking",
    "differences",
    "list_changes",
    "revert_run",
]
