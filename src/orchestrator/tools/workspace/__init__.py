"""A user's workspace: the only part of the file system the file tools can touch.

Every path is resolved beneath an open directory fd of the workspace root, never by
comparing strings: `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`
on Linux >= 5.6, otherwise a component-wise walk with `O_NOFOLLOW | O_DIRECTORY` from the
root fd. Symbolic links (even ones a command made inside the workspace), hard-linked
files, FIFOs, sockets and device files are refused; reads and writes are size-capped;
writes are atomic (temporary file + rename inside the same directory fd).

    workspace = Workspace.for_user(settings, user_id)   # DATA_DIR/workspaces/<id>, 0700
    text = workspace.read_text("notes/todo.txt").text
    workspace.usage(); workspace.ensure_room(adding=1024)   # WORKSPACE_QUOTA_MB

A user's workspace keeps its usage as a count shared by every process on the data dir
(`UsageLedger`), so a write does not walk the tree; whatever changes files behind it (a
command) calls `usage_changed()`.

Tools build theirs with `Workspace.for_tool(ctx)` so that their writes count against the
user's quota; the HTTP API uses `upload`, `open_file`, `entries`, `delete` and `archive`.
"""

from orchestrator.tools.workspace import _ops as ops
from orchestrator.tools.workspace._fs import MAX_PATH_LENGTH, split_relative
from orchestrator.tools.workspace._ledger import UsageLedger
from orchestrator.tools.workspace._transfer import FileInfo, FileType, OpenedFile, UploadSink
from orchestrator.tools.workspace._usage import usage_bytes
from orchestrator.tools.workspace._workspace import (
    MAX_LIST_ENTRIES,
    MAX_READ_BYTES,
    MAX_SEARCH_RESULTS,
    MAX_WRITE_BYTES,
    DirectoryListing,
    DirEntry,
    FileText,
    SearchMatch,
    SearchResult,
    Workspace,
)

__all__ = [
    "MAX_LIST_ENTRIES",
    "MAX_PATH_LENGTH",
    "MAX_READ_BYTES",
    "MAX_SEARCH_RESULTS",
    "MAX_WRITE_BYTES",
    "DirEntry",
    "DirectoryListing",
    "FileInfo",
    "FileText",
    "FileType",
    "OpenedFile",
    "SearchMatch",
    "SearchResult",
    "UploadSink",
    "UsageLedger",
    "Workspace",
    "ops",
    "split_relative",
    "usage_bytes",
]
