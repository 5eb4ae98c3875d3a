"""Per-user data outside the database rows, removed when an account is deleted.

Rows cascade from `users`; everything else a user owns (workspace folder, memory vectors,
knowledge indexes...) is held by a `UserDataPurger`, and `Runtime.purgers` lists them all.
A new capability that keeps per-user data appends its purger there.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import Protocol

from orchestrator.core.config import Settings
from orchestrator.tools.workspace import UsageLedger


class UserDataPurger(Protocol):
    """Something that keeps per-user data and can remove all of one user's."""

    async def purge_user(self, user_id: int) -> None:
        """Remove everything this part holds for `user_id` (idempotent)."""
        ...


class WorkspacePurger:
    """Removes the user's workspace folder under `WORKSPACES_DIR/<id>`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def purge_user(self, user_id: int) -> None:
        """Delete the workspace folder and everything in it."""
        root = self.settings.workspaces_dir / str(user_id)
        if root.is_dir() and not root.is_symlink():
            await asyncio.to_thread(shutil.rmtree, root)
        ledger = UsageLedger.for_root(self.settings, root)
        if ledger is not None:
            ledger.path.unlink(missing_ok=True)  # the quota's count of what was there
