"""Backup and restore of DATA_DIR: one archive with a manifest of checksums.

plan = plan_backup(settings, target)            # what will be saved, and its size
manifest = write_backup(settings, target, plan, progress=bar.advance)
header = restore_backup(settings, source, progress=bar.advance)  # empty DATA_DIR only
"""

from orchestrator.backup._archive import (
    BackupError,
    Header,
    Manifest,
    create_backup,
    database_kind,
    plan_backup,
    restore_backup,
    write_backup,
)

__all__ = [
    "BackupError",
    "Header",
    "Manifest",
    "create_backup",
    "database_kind",
    "plan_backup",
    "restore_backup",
    "write_backup",
]
