"""A user's workspace: the only part of the file system the file tools can touch.

Every path is resolved beneath an open directory fd of the workspace root, never by
comparing strings: `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`
on Linux >= 5.6, otherwise a component-wise walk with `O_NOFOLLOW | O_DIRECTORY` from the
root fd. Symbolic links (even ones a command made inside the workspace), hard-linked
files, FIFOs, sockets and device files are refused; reads and writes are size-capped;
writes are atomic (temporary file + rename inside the same directory fd).
"""

from __future__ import annotations

import ctypes
import errno
import fnmatch
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from pydantic import BaseModel

from orchestrator.core.config import Settings
from orchestrator.core.errors import PathOutsideWorkspace, ToolArgumentError, ToolDenied, ToolError

MAX_READ_BYTES = 1024 * 1024
MAX_WRITE_BYTES = 1024 * 1024
MAX_LIST_ENTRIES = 1000
MAX_SEARCH_RESULTS = 200
MAX_SEARCH_VISITS = 20_000
MAX_SEARCH_DEPTH = 32
MAX_PATH_LENGTH = 4096

_Matcher = Callable[[str, str], bool]  # (name, relative path) -> matches?

_SYS_OPENAT2 = 437  # same number on every Linux architecture (unified syscall table)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOCTTY: a tty never becomes ours.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class _Openat2:
    """`openat2(2)` through libc's `syscall`, with a memo of whether the kernel has it."""

    def __init__(self) -> None:
        self.available = hasattr(os, "O_PATH") and os.uname().sysname == "Linux"
        self._syscall = ctypes.CDLL(None, use_errno=True).syscall if self.available else None

    def open(self, dir_fd: int, path: str, flags: int) -> int:
        """Open `path` beneath `dir_fd`; raises OSError (ENOSYS when unsupported)."""
        if self._syscall is None:
            raise OSError(errno.ENOSYS, "openat2 is not available")
        how = _OpenHow(flags, 0, _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS)
        for _ in range(8):  # EAGAIN: a concurrent rename raced the lookup; try again
            fd = int(
                self._syscall(
                    ctypes.c_long(_SYS_OPENAT2),
                    ctypes.c_int(dir_fd),
                    ctypes.c_char_p(os.fsencode(path)),
                    ctypes.byref(how),
                    ctypes.c_size_t(ctypes.sizeof(how)),
                )
            )
            if fd >= 0:
                return fd
            code = ctypes.get_errno()
            if code != errno.EAGAIN:
                raise OSError(code, os.strerror(code), path)
        raise OSError(errno.EAGAIN, "path kept changing while it was resolved", path)


_OPENAT2 = _Openat2()


class FileText(BaseModel):
    """What `read_text` found."""

    path: str
    text: str
    size: int
    truncated: bool = False
    binary: bool = False


class DirEntry(BaseModel):
    """One entry of a listing; links and special files are shown but never followed."""

    name: str
    type: str  # "file" | "dir" | "symlink" | "other"
    size: int | None = None


class DirectoryListing(BaseModel):
    path: str
    entries: list[DirEntry]
    truncated: bool = False


class SearchMatch(BaseModel):
    path: str
    type: str  # "file" | "dir"
    line: int | None = None  # with a content search: the first line that contains it
    text: str | None = None


class SearchResult(BaseModel):
    matches: list[SearchMatch]
    truncated: bool = False


def split_relative(path: str) -> list[str]:
    """The components of a workspace-relative path; refuses absolute paths, `..` and NUL."""
    if "\x00" in path:
        raise ToolArgumentError("the path contains a NUL byte")
    if len(path) > MAX_PATH_LENGTH:
        raise ToolArgumentError(f"the path is longer than {MAX_PATH_LENGTH} characters")
    if path.startswith("/"):
        raise PathOutsideWorkspace(
            f"{path!r} is absolute; use a path relative to your workspace, e.g. 'notes/todo.txt'"
        )
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise PathOutsideWorkspace(f"{path!r} uses '..'; paths must stay inside your workspace")
    return parts


def _display(parts: list[str]) -> str:
    return "/".join(parts) or "."


def _translate(exc: OSError, shown: str) -> ToolError:
    """Turn an OSError from resolution into the message the model reads."""
    code = exc.errno
    if code in (errno.ELOOP, errno.EXDEV):
        return PathOutsideWorkspace(
            f"{shown!r} goes through a symbolic link or leaves the workspace; "
            "links are not followed"
        )
    if code == errno.ENOENT:
        return ToolArgumentError(f"{shown!r} does not exist")
    if code == errno.ENOTDIR:
        return ToolArgumentError(f"a part of {shown!r} is not a directory")
    if code == errno.EISDIR:
        return ToolArgumentError(f"{shown!r} is a directory")
    if code == errno.ENXIO:  # a socket, or a device without a driver
        return ToolArgumentError(f"{shown!r} is not a regular file (FIFO, socket or device)")
    if code == errno.ENAMETOOLONG:
        return ToolArgumentError(f"{shown!r} is too long a name")
    if code in (errno.EACCES, errno.EPERM):
        return ToolDenied(f"permission denied for {shown!r}")
    if code == errno.ENOSPC:
        return ToolError("the disk is full")
    return ToolError(f"{shown!r}: {os.strerror(code or 0)}")


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def _check_regular(st: os.stat_result, shown: str) -> None:
    """Only plain, singly-linked files: a second hard link may be a file outside the workspace."""
    if stat.S_ISLNK(st.st_mode):
        raise PathOutsideWorkspace(f"{shown!r} is a symbolic link; links are not followed")
    if stat.S_ISDIR(st.st_mode):
        raise ToolArgumentError(f"{shown!r} is a directory")
    if not stat.S_ISREG(st.st_mode):
        raise ToolArgumentError(f"{shown!r} is not a regular file (FIFO, socket or device)")
    if st.st_nlink > 1:
        raise PathOutsideWorkspace(
            f"{shown!r} has {st.st_nlink} hard links; refused because another name for it "
            "may lie outside the workspace"
        )


class Workspace:
    """The directory tree one user's tools may read and change."""

    def __init__(
        self,
        root: Path,
        *,
        max_read_bytes: int = MAX_READ_BYTES,
        max_write_bytes: int = MAX_WRITE_BYTES,
        use_openat2: bool = True,
    ) -> None:
        self.root = root
        self.max_read_bytes = max_read_bytes
        self.max_write_bytes = max_write_bytes
        self._use_openat2 = use_openat2 and _OPENAT2.available

    @classmethod
    def for_user(cls, settings: Settings, user_id: int) -> Workspace:
        """The user's workspace under `settings.workspaces_dir`, created private (0700)."""
        if user_id < 1:
            raise ValueError(f"invalid user id {user_id}")
        base = settings.workspaces_dir
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        root = base / str(user_id)
        with suppress(FileExistsError):
            root.mkdir(mode=0o700)
        st = root.lstat()
        if not stat.S_ISDIR(st.st_mode):  # a symlink here would send every tool elsewhere
            raise ToolError(f"the workspace {root} is not a directory")
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(root, 0o700)
        return cls(root)

    # -- resolution ---------------------------------------------------------------

    @contextmanager
    def _root_fd(self) -> Iterator[int]:
        fd = os.open(self.root, _DIR_FLAGS)
        try:
            yield fd
        finally:
            os.close(fd)

    def _open_beneath(self, root_fd: int, parts: list[str], flags: int) -> int:
        """Open `parts` beneath the root fd without following any link; caller closes."""
        if self._use_openat2:
            try:
                return _OPENAT2.open(root_fd, _display(parts), flags)
            except OSError as exc:
                # ENOSYS: old kernel; EPERM: seccomp filters that do not know openat2.
                if exc.errno not in (errno.ENOSYS, errno.EPERM):
                    raise
                self._use_openat2 = False
        if not parts:
            return os.dup(root_fd)
        parent = _walk_dirs(root_fd, parts[:-1], create=False)
        try:
            return os.open(parts[-1], flags | os.O_NOFOLLOW, dir_fd=parent)
        finally:
            os.close(parent)

    @contextmanager
    def _directory(self, path: str) -> Iterator[tuple[int, list[str]]]:
        parts = split_relative(path)
        with self._root_fd() as root_fd:
            try:
                fd = self._open_beneath(root_fd, parts, _DIR_FLAGS)
            except OSError as exc:
                raise _translate(exc, _display(parts)) from None
            try:
                yield fd, parts
            finally:
                os.close(fd)

    # -- reading ------------------------------------------------------------------

    def read_text(self, path: str) -> FileText:
        """Read a text file, at most `max_read_bytes` of it."""
        parts = split_relative(path)
        shown = _display(parts)
        if not parts:
            raise ToolArgumentError("'.' is the workspace directory; give a file name")
        with self._root_fd() as root_fd:
            fd = self._open_file(root_fd, parts, shown)
            try:
                st = os.fstat(fd)
                data = _read_at_most(fd, self.max_read_bytes)
            finally:
                os.close(fd)
        truncated = st.st_size > self.max_read_bytes or len(data) > self.max_read_bytes
        data = data[: self.max_read_bytes]
        if b"\x00" in data[:8192]:
            return FileText(path=shown, text="", size=st.st_size, truncated=False, binary=True)
        text = data.decode("utf-8", errors="replace")
        return FileText(path=shown, text=text, size=st.st_size, truncated=truncated)

    def _open_file(self, root_fd: int, parts: list[str], shown: str) -> int:
        """Open a regular file for reading; what it is gets checked before it is opened."""
        # An O_PATH fd lets us fstat without opening: a device or FIFO is never opened.
        try:
            probe = self._open_beneath(root_fd, parts, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise _translate(exc, shown) from None
        try:
            expected = os.fstat(probe)
        finally:
            os.close(probe)
        _check_regular(expected, shown)
        try:
            fd = self._open_beneath(root_fd, parts, _FILE_FLAGS)
        except OSError as exc:
            raise _translate(exc, shown) from None
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (expected.st_dev, expected.st_ino):
            os.close(fd)
            raise ToolError(f"{shown!r} changed while it was being opened; try again")
        return fd

    def list_directory(self, path: str = ".", limit: int = MAX_LIST_ENTRIES) -> DirectoryListing:
        """The entries of a directory, sorted by name."""
        with self._directory(path) as (fd, parts):
            entries: list[DirEntry] = []
            truncated = False
            with os.scandir(fd) as it:
                for item in it:
                    if len(entries) >= limit:
                        truncated = True
                        break
                    st = item.stat(follow_symlinks=False)
                    kind = _kind(st.st_mode)
                    size = st.st_size if kind == "file" else None
                    entries.append(DirEntry(name=item.name, type=kind, size=size))
        entries.sort(key=lambda e: e.name)
        return DirectoryListing(path=_display(parts), entries=entries, truncated=truncated)

    def search(
        self,
        pattern: str,
        path: str = ".",
        content: str | None = None,
        limit: int = MAX_SEARCH_RESULTS,
    ) -> SearchResult:
        """Files and directories whose name matches `pattern` (and, if given, contain `content`)."""
        matcher = _name_matcher(pattern)
        needle = content.encode("utf-8").lower() if content else None
        matches: list[SearchMatch] = []
        with self._directory(path) as (fd, parts):
            budget = [MAX_SEARCH_VISITS]
            for rel, kind, entry_fd, name in _walk_tree(fd, parts, budget):
                if not matcher(name, rel):
                    continue
                match = SearchMatch(path=rel, type=kind)
                if needle is not None:
                    if kind != "file":
                        continue
                    hit = _find_in_file(entry_fd, name, needle, self.max_read_bytes)
                    if hit is None:
                        continue
                    match.line, match.text = hit
                matches.append(match)
                if len(matches) >= limit:
                    return SearchResult(matches=matches, truncated=True)
            return SearchResult(matches=matches, truncated=budget[0] <= 0)

    # -- writing ------------------------------------------------------------------

    def write_text(self, path: str, content: str) -> int:
        """Create or replace a file atomically; parent directories are created. Returns bytes."""
        parts = split_relative(path)
        shown = _display(parts)
        if not parts:
            raise ToolArgumentError("give a file name to write to")
        data = content.encode("utf-8")
        if len(data) > self.max_write_bytes:
            raise ToolArgumentError(
                f"the content is {len(data)} bytes; files are limited to {self.max_write_bytes}"
            )
        with self._root_fd() as root_fd:
            try:
                parent_fd = self._open_parent(root_fd, parts)
            except OSError as exc:
                raise _translate(exc, shown) from None
            try:
                self._replace(parent_fd, parts[-1], data, shown)
            finally:
                os.close(parent_fd)
        return len(data)

    def _open_parent(self, root_fd: int, parts: list[str]) -> int:
        parents = parts[:-1]
        try:
            return self._open_beneath(root_fd, parents, _DIR_FLAGS)
        except FileNotFoundError:
            # Creating directories needs one step at a time; each step refuses links.
            return _walk_dirs(root_fd, parents, create=True)

    @staticmethod
    def _replace(parent_fd: int, name: str, data: bytes, shown: str) -> None:
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _translate(exc, shown) from None
        else:
            _check_regular(st, shown)
        temp = f".tmp-{secrets.token_hex(8)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(temp, flags, 0o644, dir_fd=parent_fd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        except OSError as exc:
            with suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=parent_fd)
            raise _translate(exc, shown) from None


def _walk_dirs(root_fd: int, names: list[str], *, create: bool) -> int:
    """Descend one directory at a time from the root fd, refusing links; caller closes."""
    fd = os.dup(root_fd)
    try:
        for name in names:
            if create:
                with suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
            next_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        return os.dup(fd)
    finally:
        os.close(fd)


def _read_at_most(fd: int, limit: int) -> bytes:
    """Up to limit + 1 bytes, so the caller knows whether there was more."""
    chunks: list[bytes] = []
    remaining = limit + 1
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _name_matcher(pattern: str) -> _Matcher:
    """A glob when the pattern has wildcards, otherwise a case-insensitive substring test."""
    lowered = pattern.lower()
    if not pattern.strip():
        raise ToolArgumentError("the search pattern is empty")
    if any(ch in pattern for ch in "*?["):
        if "/" in pattern:
            return lambda _name, rel: fnmatch.fnmatchcase(rel.lower(), lowered)
        return lambda name, _rel: fnmatch.fnmatchcase(name.lower(), lowered)
    return lambda name, _rel: lowered in name.lower()


def _walk_tree(
    top_fd: int, parts: list[str], budget: list[int]
) -> Iterator[tuple[str, str, int, str]]:
    """(relative path, kind, fd of its directory, name) for every file and directory.

    Links and special files are skipped; directories are entered with O_NOFOLLOW from
    their parent's fd, so a swapped-in link cannot lead the walk outside.
    """
    stack: list[tuple[int, str, int]] = [(os.dup(top_fd), _display(parts), 0)]
    try:
        while stack:
            dir_fd, rel_dir, depth = stack.pop()
            try:
                with os.scandir(dir_fd) as it:
                    entries = sorted(it, key=lambda e: e.name)
                for item in entries:
                    budget[0] -= 1
                    if budget[0] < 0:
                        return
                    st = item.stat(follow_symlinks=False)
                    kind = _kind(st.st_mode)
                    rel = item.name if rel_dir == "." else f"{rel_dir}/{item.name}"
                    if kind not in ("file", "dir"):
                        continue
                    yield rel, kind, dir_fd, item.name
                    if kind == "dir" and depth < MAX_SEARCH_DEPTH:
                        try:
                            child = os.open(item.name, _DIR_FLAGS, dir_fd=dir_fd)
                        except OSError:
                            continue  # vanished or replaced by a link meanwhile
                        stack.append((child, rel, depth + 1))
            finally:
                os.close(dir_fd)
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def _find_in_file(dir_fd: int, name: str, needle: bytes, limit: int) -> tuple[int, str] | None:
    """(line number, line) of the first occurrence, case-insensitive; None if absent."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            return None
        data = _read_at_most(fd, limit)[:limit]
    finally:
        os.close(fd)
    if b"\x00" in data[:8192]:
        return None
    lowered = data.lower()
    index = lowered.find(needle)
    if index < 0:
        return None
    start = data.rfind(b"\n", 0, index) + 1
    end = data.find(b"\n", index)
    line = data[start : end if end >= 0 else len(data)]
    return data.count(b"\n", 0, index) + 1, line.decode("utf-8", errors="replace").strip()[:200]
