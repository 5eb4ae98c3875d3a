"""More confined steps on a Workspace: raw reads, delete, move, make directory, stat.

Each resolves beneath the root's fd exactly as `Workspace` does (no link is followed,
no `..`, no absolute path), so the new file tools share the first wave's confinement.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import stat
from datetime import UTC, datetime

from pydantic import BaseModel

from orchestrator.core.errors import PathOutsideWorkspace, ToolArgumentError
from orchestrator.tools.workspace._fs import (
    DIR_FLAGS,
    display,
    kind,
    read_at_most,
    split_relative,
    translate,
    walk_dirs,
)
from orchestrator.tools.workspace._workspace import Workspace

MAX_HASH_BYTES = 1024**3


class FileInfo(BaseModel):
    """What `file_info` tells about one path."""

    path: str
    type: str
    size: int
    modified: str
    sha256: str | None = None
    media_type: str | None = None


def _parts(path: str, *, allow_root: bool = False) -> list[str]:
    parts = split_relative(path)
    if not parts and not allow_root:
        raise PathOutsideWorkspace("'.' is the workspace itself; name something inside it")
    return parts


def read_bytes(ws: Workspace, path: str, limit: int) -> tuple[bytes, int]:
    """(up to limit + 1 bytes, size) of a regular file."""
    parts = _parts(path)
    with ws._root_fd() as root_fd:
        fd = ws._open_file(root_fd, parts, display(parts))
        try:
            return read_at_most(fd, limit), os.fstat(fd).st_size
        finally:
            os.close(fd)


def exists(ws: Workspace, path: str) -> bool:
    """Whether anything (file, directory, link) is at `path`."""
    parts = _parts(path)
    with ws._root_fd() as root_fd:
        try:
            parent = ws._open_beneath(root_fd, parts[:-1], DIR_FLAGS)
        except OSError:
            return False
        try:
            os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return False
        finally:
            os.close(parent)
    return True


def delete(ws: Workspace, path: str, *, recursive: bool = False) -> str:
    """Delete a file, a link (never its target) or a directory (non-empty only if recursive)."""
    parts = _parts(path)
    shown = display(parts)
    with ws._root_fd() as root_fd:
        try:
            parent = ws._open_beneath(root_fd, parts[:-1], DIR_FLAGS)
        except OSError as exc:
            raise translate(exc, shown) from None
        try:
            try:
                st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
            except OSError as exc:
                raise translate(exc, shown) from None
            with ws.removing(parent, parts[-1]):
                if stat.S_ISDIR(st.st_mode):
                    if recursive:
                        # rmtree with dir_fd never follows a link out of the tree.
                        shutil.rmtree(parts[-1], dir_fd=parent)
                        return "directory"
                    try:
                        os.rmdir(parts[-1], dir_fd=parent)
                    except OSError as exc:
                        if exc.errno == 39:  # ENOTEMPTY
                            raise ToolArgumentError(
                                f"{shown!r} is a directory that is not empty; "
                                "pass recursive=true to delete it with its contents"
                            ) from None
                        raise translate(exc, shown) from None
                    return "directory"
                os.unlink(parts[-1], dir_fd=parent)
                return kind(st.st_mode)
        finally:
            os.close(parent)


def move(ws: Workspace, source: str, destination: str) -> None:
    """Rename inside the workspace; the destination must not exist yet."""
    src, dst = _parts(source), _parts(destination)
    if dst[: len(src)] == src:
        raise ToolArgumentError("cannot move a directory inside itself")
    with ws._root_fd() as root_fd:
        try:
            src_parent = ws._open_beneath(root_fd, src[:-1], DIR_FLAGS)
        except OSError as exc:
            raise translate(exc, display(src)) from None
        try:
            try:
                os.stat(src[-1], dir_fd=src_parent, follow_symlinks=False)
            except OSError as exc:
                raise translate(exc, display(src)) from None
            try:
                dst_parent = ws._open_parent(root_fd, dst)
            except OSError as exc:
                raise translate(exc, display(dst)) from None
            try:
                try:
                    os.stat(dst[-1], dir_fd=dst_parent, follow_symlinks=False)
                except FileNotFoundError:
                    pass
                else:
                    raise ToolArgumentError(
                        f"{display(dst)!r} already exists; delete it first or pick another name"
                    )
                try:
                    os.rename(src[-1], dst[-1], src_dir_fd=src_parent, dst_dir_fd=dst_parent)
                except OSError as exc:
                    raise translate(exc, display(dst)) from None
            finally:
                os.close(dst_parent)
        finally:
            os.close(src_parent)


def make_directory(ws: Workspace, path: str) -> bool:
    """Create a directory and its parents; False if it already existed."""
    parts = _parts(path)
    with ws._root_fd() as root_fd:
        try:
            fd = ws._open_beneath(root_fd, parts, DIR_FLAGS)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise translate(exc, display(parts)) from None
        else:
            os.close(fd)
            return False
        try:
            os.close(walk_dirs(root_fd, parts, create=True))
        except OSError as exc:
            raise translate(exc, display(parts)) from None
    return True


def file_info(ws: Workspace, path: str) -> FileInfo:
    """Size, modification time, sha256 (files) and media type of one path."""
    parts = _parts(path, allow_root=True)
    shown = display(parts)
    with ws._root_fd() as root_fd:
        try:
            probe = ws._open_beneath(root_fd, parts, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise translate(exc, shown) from None
        try:
            st = os.fstat(probe)
        finally:
            os.close(probe)
        what = kind(st.st_mode)
        modified = datetime.fromtimestamp(st.st_mtime, UTC).isoformat(timespec="seconds")
        info = FileInfo(path=shown, type=what, size=st.st_size, modified=modified)
        if what != "file":
            return info
        info.media_type = mimetypes.guess_type(parts[-1])[0] or "application/octet-stream"
        if st.st_size > MAX_HASH_BYTES or st.st_nlink > 1:
            return info
        fd = ws._open_file(root_fd, parts, shown)
        try:
            digest = hashlib.sha256()
            while chunk := os.read(fd, 1 << 20):
                digest.update(chunk)
        finally:
            os.close(fd)
        info.sha256 = digest.hexdigest()
    return info


class GrepResult(BaseModel):
    """`path:line: text` hits of a regex search, and whether it stopped at a limit."""

    matches: list[str]
    files_searched: int
    truncated: bool = False


def grep(
    ws: Workspace,
    pattern: str,
    path: str = ".",
    glob: str | None = None,
    *,
    ignore_case: bool = False,
    max_results: int = 100,
    max_file_bytes: int = 2 * 1024 * 1024,
) -> GrepResult:
    """Lines matching a regular expression in the workspace's text files."""
    import fnmatch

    import regex

    flags = regex.IGNORECASE if ignore_case else 0
    try:
        compiled = regex.compile(pattern, flags)
    except regex.error as exc:
        raise ToolArgumentError(f"bad regular expression {pattern!r}: {exc}") from None
    from orchestrator.tools.workspace._fs import FILE_FLAGS
    from orchestrator.tools.workspace._search import SearchBudget, walk_tree

    matches: list[str] = []
    searched = 0
    budget = SearchBudget()
    with ws._directory(path) as (fd, parts):
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise ToolArgumentError(f"{display(parts)!r} is not a directory")
        for rel, what, dir_fd, name in walk_tree(fd, display(parts), budget):
            if what != "file" or (glob and not fnmatch.fnmatch(name, glob)):
                continue
            try:
                file_fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue
            try:
                st = os.fstat(file_fd)
                if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
                    continue
                data = read_at_most(file_fd, max_file_bytes)[:max_file_bytes]
            finally:
                os.close(file_fd)
            budget.content_bytes -= len(data)
            if b"\x00" in data[:8192]:
                continue
            searched += 1
            for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
                try:
                    hit = compiled.search(line[:10_000], timeout=1.0)
                except TimeoutError:
                    raise ToolArgumentError(
                        "the regular expression took too long (catastrophic backtracking); "
                        "simplify it"
                    ) from None
                if hit:
                    matches.append(f"{rel}:{number}: {line.strip()[:300]}")
                    if len(matches) >= max_results:
                        return GrepResult(matches=matches, files_searched=searched, truncated=True)
            if budget.spent:
                break
    return GrepResult(matches=matches, files_searched=searched, truncated=budget.spent)


def write_bytes(ws: Workspace, path: str, data: bytes) -> None:
    """Create or replace a file with exactly these bytes (atomic; parents created)."""
    parts = _parts(path)
    ws._write_all(parts, data, display(parts))
