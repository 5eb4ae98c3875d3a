"""What a workspace holds, cheaply: a stat walk, and a content store for the small files.

`Snapshots.capture(root, paths)` walks the workspace (or only `paths`, their subtrees
and their parents) with lstat and answers each file's and directory's state. The
content of every file up to the size cap is kept in a content-addressed blob store;
a per-workspace index of (size, mtime, inode) -> sha256 means a file is read and
hashed only when its stat changed since it was last seen, so a capture of an unchanged
workspace costs one lstat per entry (incremental). Links and special files are not
recorded; neither is anything under `.git` (git keeps its own history).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from orchestrator.core.errors import ToolError
from orchestrator.tools.workspace import Workspace, ops, split_relative

SKIPPED_DIRS = frozenset({".git"})
MAX_ENTRIES = 200_000


@dataclass(frozen=True, slots=True)
class PathState:
    """One path at one moment: a file (with its content's sha256 if kept) or a folder."""

    kind: str  # "file" | "dir"
    size: int = 0
    mtime_ns: int = 0
    ino: int = 0
    sha256: str | None = None  # None: over the size cap (or unreadable): not revertible

    def same_stat(self, other: PathState) -> bool:
        return (self.kind, self.size, self.mtime_ns, self.ino) == (
            other.kind,
            other.size,
            other.mtime_ns,
            other.ino,
        )


Capture = dict[str, PathState | None]  # path -> state (None: absent)


class BlobStore:
    """Content-addressed file contents under DATA_DIR/changes/blobs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, sha: str) -> Path:
        return self.directory / sha[:2] / sha

    def put(self, data: bytes) -> str:
        """Keep `data`; its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        path = self._path(sha)
        if path.exists():
            return sha
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temp = path.with_name(f".{sha}.{secrets.token_hex(4)}")
        temp.write_bytes(data)
        os.replace(temp, path)
        return sha

    def get(self, sha: str) -> bytes | None:
        """The content kept under `sha`, or None."""
        try:
            return self._path(sha).read_bytes()
        except FileNotFoundError:
            return None


class Snapshots:
    """Captures of workspaces, sharing one blob store and one stat index per workspace."""

    def __init__(self, data_dir: Path, max_file_bytes: int) -> None:
        self.blobs = BlobStore(data_dir / "changes" / "blobs")
        self.max_file_bytes = max_file_bytes
        self._index: dict[str, dict[str, PathState]] = {}
        self._lock = threading.Lock()

    def capture(self, root: Path, paths: list[str] | None = None) -> Capture:
        """The state of the whole workspace, or of `paths` (subtrees and parents)."""
        found: Capture = {}
        if paths is None:
            _walk(root, "", found)
        else:
            for path in paths:
                try:
                    parts = split_relative(path)
                except ToolError:
                    continue
                for depth in range(1, len(parts)):
                    _stat_one(root, "/".join(parts[:depth]), found, walk=False)
                if parts:
                    _stat_one(root, "/".join(parts), found, walk=True)
        self._fill_hashes(root, found)
        return found

    def _fill_hashes(self, root: Path, found: Capture) -> None:
        key = str(root)
        with self._lock:
            index = self._index.setdefault(key, {})
        workspace = Workspace(root)
        for path, state in found.items():
            if state is None or state.kind != "file" or state.size > self.max_file_bytes:
                continue
            known = index.get(path)
            if known is not None and known.same_stat(state) and known.sha256:
                found[path] = known
                continue
            try:
                data, size = ops.read_bytes(workspace, path, self.max_file_bytes)
            except ToolError:
                continue  # a hard-linked or vanished file: recorded without its content
            if size > self.max_file_bytes:
                continue
            hashed = PathState("file", state.size, state.mtime_ns, state.ino, self.blobs.put(data))
            found[path] = hashed
            with self._lock:
                index[path] = hashed


def _state(st: os.stat_result) -> PathState | None:
    if stat.S_ISREG(st.st_mode):
        return PathState("file", st.st_size, st.st_mtime_ns, st.st_ino)
    if stat.S_ISDIR(st.st_mode):
        return PathState("dir", 0, 0, st.st_ino)
    return None


def _stat_one(root: Path, rel: str, found: Capture, *, walk: bool) -> None:
    if rel in found:
        return
    try:
        st = os.lstat(root / rel)
    except OSError:
        found[rel] = None
        return
    state = _state(st)
    found[rel] = state
    if walk and state is not None and state.kind == "dir":
        _walk(root, rel, found)


def _walk(root: Path, rel: str, found: Capture) -> None:
    """Every file and folder below `rel`, without following links."""
    stack = [rel]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(root / current if current else root) as entries:
                for entry in entries:
                    if len(found) >= MAX_ENTRIES:
                        return
                    name = f"{current}/{entry.name}" if current else entry.name
                    try:
                        state = _state(entry.stat(follow_symlinks=False))
                    except OSError:
                        continue
                    if state is None:
                        continue
                    if state.kind == "dir":
                        if entry.name in SKIPPED_DIRS:
                            continue
                        stack.append(name)
                    found[name] = state
        except OSError:
            continue


def differences(
    before: Capture, after: Capture
) -> dict[str, tuple[PathState | None, PathState | None]]:
    """Paths whose state changed: path -> (before, after)."""
    changed: dict[str, tuple[PathState | None, PathState | None]] = {}
    for path in before.keys() | after.keys():
        old, new = before.get(path), after.get(path)
        if old is None and new is None:
            continue
        if old is not None and new is not None:
            if old.kind == new.kind == "dir":
                continue
            if old.kind == new.kind and old.same_stat(new) and old.sha256 == new.sha256:
                continue
            if old.kind == new.kind == "file" and old.sha256 and old.sha256 == new.sha256:
                continue  # touched but the same content
        changed[path] = (old, new)
    return changed
