"""The Workspace class: what the file tools do, each step beneath the root's fd."""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel

from orchestrator.core.config import Settings
from orchestrator.core.errors import ToolArgumentError, ToolError
from orchestrator.tools.workspace._fs import (
    DIR_FLAGS,
    FILE_FLAGS,
    OPENAT2,
    EntryType,
    check_regular,
    display,
    kind,
    read_at_most,
    split_relative,
    translate,
    walk_dirs,
)
from orchestrator.tools.workspace._ledger import Claim, UsageLedger, freed_bytes, replaced_bytes
from orchestrator.tools.workspace._search import SearchBudget, find_in_file, name_matcher, walk_tree
from orchestrator.tools.workspace._transfer import (
    FileInfo,
    OpenedFile,
    UploadSink,
    file_info,
    remove_entry,
    zip_chunks,
)
from orchestrator.tools.workspace._usage import quota_error, room_left, usage_bytes

MAX_READ_BYTES = 1024 * 1024
MAX_WRITE_BYTES = 1024 * 1024
MAX_LIST_ENTRIES = 1000
MAX_SEARCH_RESULTS = 200


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
    type: EntryType
    size: int | None = None


class DirectoryListing(BaseModel):
    """A directory's entries, sorted by name."""

    path: str
    entries: list[DirEntry]
    truncated: bool = False


class SearchMatch(BaseModel):
    """A file or directory that matched a search."""

    path: str
    type: Literal["file", "dir"]
    line: int | None = None  # with a content search: the first line that contains it
    text: str | None = None


class SearchResult(BaseModel):
    """What a search found; `truncated` when it stopped at a limit."""

    matches: list[SearchMatch]
    truncated: bool = False


class ToolPlace(Protocol):
    """What `Workspace.for_tool` needs of a tool's context."""

    @property
    def workspace(self) -> Path: ...

    @property
    def settings(self) -> Settings: ...


class Workspace:
    """The directory tree one user's tools may read and change.

    `quota_bytes` (WORKSPACE_QUOTA_MB) bounds what writes through this object may add:
    a write that would take the tree over it raises `WorkspaceQuotaExceeded`. With a
    `ledger` (a user's workspace) the usage is a count shared by every process; without
    one, each write walks the tree.
    """

    def __init__(
        self,
        root: Path,
        *,
        max_read_bytes: int = MAX_READ_BYTES,
        max_write_bytes: int = MAX_WRITE_BYTES,
        quota_bytes: int | None = None,
        ledger: UsageLedger | None = None,
        use_openat2: bool = True,
    ) -> None:
        self.root = root
        self.max_read_bytes = max_read_bytes
        self.max_write_bytes = max_write_bytes
        self.quota_bytes = quota_bytes
        self.ledger = ledger
        self._use_openat2 = use_openat2 and OPENAT2.available

    @classmethod
    def for_tool(cls, ctx: ToolPlace) -> Workspace:
        """The workspace of a tool call (its root and WORKSPACE_QUOTA_MB from the context)."""
        return cls(
            ctx.workspace,
            quota_bytes=ctx.settings.workspace_quota_bytes,
            ledger=UsageLedger.for_root(ctx.settings, ctx.workspace),
        )

    @classmethod
    def for_user(cls, settings: Settings, user_id: int) -> Workspace:
        """The user's workspace under `settings.workspaces_dir`, created private (0700),
        with WORKSPACE_QUOTA_MB as its quota."""
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
        return cls(
            root,
            quota_bytes=settings.workspace_quota_bytes,
            ledger=UsageLedger.for_root(settings, root),
        )

    # -- resolution ---------------------------------------------------------------

    @contextmanager
    def _root_fd(self) -> Iterator[int]:
        fd = os.open(self.root, DIR_FLAGS)
        try:
            yield fd
        finally:
            os.close(fd)

    def _open_beneath(self, root_fd: int, parts: list[str], flags: int) -> int:
        """Open `parts` beneath the root fd without following any link; caller closes."""
        if self._use_openat2:
            try:
                return OPENAT2.open(root_fd, display(parts), flags)
            except OSError as exc:
                # ENOSYS: old kernel; EPERM: seccomp filters that do not know openat2.
                if exc.errno not in (errno.ENOSYS, errno.EPERM):
                    raise
                self._use_openat2 = False
        if not parts:
            return os.dup(root_fd)
        parent = walk_dirs(root_fd, parts[:-1], create=False)
        try:
            return os.open(parts[-1], flags | os.O_NOFOLLOW, dir_fd=parent)
        finally:
            os.close(parent)

    @contextmanager
    def _directory(self, path: str) -> Iterator[tuple[int, list[str]]]:
        parts = split_relative(path)
        with self._root_fd() as root_fd:
            try:
                fd = self._open_beneath(root_fd, parts, DIR_FLAGS)
            except OSError as exc:
                raise translate(exc, display(parts)) from None
            try:
                yield fd, parts
            finally:
                os.close(fd)

    # -- reading ------------------------------------------------------------------

    def read_text(self, path: str) -> FileText:
        """Read a text file, at most `max_read_bytes` of it."""
        parts = split_relative(path)
        shown = display(parts)
        if not parts:
            raise ToolArgumentError("'.' is the workspace directory; give a file name")
        with self._root_fd() as root_fd:
            fd = self._open_file(root_fd, parts, shown)
            try:
                st = os.fstat(fd)
                data = read_at_most(fd, self.max_read_bytes)
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
            raise translate(exc, shown) from None
        try:
            expected = os.fstat(probe)
        finally:
            os.close(probe)
        check_regular(expected, shown)
        try:
            fd = self._open_beneath(root_fd, parts, FILE_FLAGS)
        except OSError as exc:
            raise translate(exc, shown) from None
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
                    what = kind(st.st_mode)
                    size = st.st_size if what == "file" else None
                    entries.append(DirEntry(name=item.name, type=what, size=size))
        entries.sort(key=lambda e: e.name)
        return DirectoryListing(path=display(parts), entries=entries, truncated=truncated)

    def search(
        self,
        pattern: str,
        path: str = ".",
        content: str | None = None,
        limit: int = MAX_SEARCH_RESULTS,
    ) -> SearchResult:
        """Files and directories whose name matches `pattern` (and, if given, contain `content`)."""
        matcher = name_matcher(pattern)
        needle = content.encode("utf-8").lower() if content else None
        matches: list[SearchMatch] = []
        budget = SearchBudget()
        with self._directory(path) as (fd, parts):
            for rel, what, dir_fd, name in walk_tree(fd, display(parts), budget):
                if not matcher(name, rel) or (needle is not None and what != "file"):
                    continue
                match = SearchMatch(path=rel, type=what)
                if needle is not None:
                    hit = find_in_file(dir_fd, name, needle, self.max_read_bytes, budget)
                    if hit is None:
                        continue
                    match.line, match.text = hit
                matches.append(match)
                if len(matches) >= limit:
                    return SearchResult(matches=matches, truncated=True)
        return SearchResult(matches=matches, truncated=budget.spent)

    # -- writing ------------------------------------------------------------------

    def write_text(self, path: str, content: str) -> int:
        """Create or replace a file atomically; parent directories are created. Returns bytes."""
        parts = split_relative(path)
        shown = display(parts)
        if not parts:
            raise ToolArgumentError("give a file name to write to")
        data = content.encode("utf-8")
        if len(data) > self.max_write_bytes:
            raise ToolArgumentError(
                f"the content is {len(data)} bytes; files are limited to {self.max_write_bytes}"
            )
        self._write_all(parts, data, shown)
        return len(data)

    def _write_all(self, parts: list[str], data: bytes, shown: str) -> None:
        """Create or replace the file at `parts` with `data`, atomically, creating parents."""
        with self._root_fd() as root_fd:
            try:
                parent_fd = self._open_parent(root_fd, parts)
            except OSError as exc:
                raise translate(exc, shown) from None
            try:
                self._replace(root_fd, parent_fd, parts[-1], data, shown)
            finally:
                os.close(parent_fd)

    def _open_parent(self, root_fd: int, parts: list[str]) -> int:
        parents = parts[:-1]
        try:
            return self._open_beneath(root_fd, parents, DIR_FLAGS)
        except FileNotFoundError:
            # Creating directories needs one step at a time; each step refuses links.
            return walk_dirs(root_fd, parents, create=True)

    def _replace(self, root_fd: int, parent_fd: int, name: str, data: bytes, shown: str) -> None:
        replaced = self._existing_size(parent_fd, name, shown)
        claim: Claim | None = None
        if self.ledger is not None:
            claim = self.ledger.claim(self.quota_bytes, replaced or 0)
            claim.grow(len(data))
        else:
            self._ensure_room(root_fd, len(data), replaced or 0)
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

            def put() -> None:
                os.rename(temp, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)

            if claim is None:
                put()
            else:
                claim.commit(len(data), lambda: replaced_bytes(parent_fd, name), put)
        except OSError as exc:
            with suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=parent_fd)
            raise translate(exc, shown) from None
        finally:
            if claim is not None:
                claim.abort()  # nothing once committed

    # -- quota --------------------------------------------------------------------

    def usage(self) -> int:
        """Bytes held by the workspace's regular files (each inode once, links not
        followed), walked now."""
        with self._root_fd() as root_fd:
            return usage_bytes(root_fd)

    def counted_usage(self) -> int:
        """The usage the quota goes by: the shared count, else a walk."""
        return self.ledger.used() if self.ledger is not None else self.usage()

    def usage_changed(self) -> None:
        """Files were changed behind this object's back (a command, an archive, a revert):
        the count is walked again before the next write."""
        if self.ledger is not None:
            self.ledger.invalidate()

    @contextmanager
    def reserving(self) -> Iterator[Callable[[int], None]]:
        """For files written in place beside the count (archives unpacked or packed): a
        function to call with the bytes written so far, raising `WorkspaceQuotaExceeded`
        once they would go over the quota. At the end the workspace is walked again
        before what was reserved is handed back, so other writers never see the room."""
        quota = self.quota_bytes
        if quota is None:
            yield lambda written: None
            return
        if self.ledger is not None:
            claim = self.ledger.claim(quota)
            try:
                yield claim.grow
            finally:
                self.usage_changed()
                claim.abort()
            return
        used = self.usage()

        def check(written: int) -> None:
            if used + written > quota:
                raise quota_error(quota, used, written)

        yield check

    def ensure_room(self, adding: int, replacing: int = 0) -> None:
        """Raise `WorkspaceQuotaExceeded` unless `adding` bytes (replacing a file of
        `replacing` bytes) fit under the quota."""
        with self._root_fd() as root_fd:
            self._ensure_room(root_fd, adding, replacing)

    def _ensure_room(self, root_fd: int, adding: int, replacing: int) -> None:
        if self.quota_bytes is None:
            return
        used = self.ledger.used() if self.ledger is not None else usage_bytes(root_fd)
        room = room_left(self.quota_bytes, used, replacing)
        if room is not None and adding > room:
            raise quota_error(self.quota_bytes, used, adding)

    # -- whole files (the HTTP API) -----------------------------------------------

    def entries(self, path: str = ".", limit: int = MAX_LIST_ENTRIES) -> list[FileInfo]:
        """A directory's entries with their type, size and time, directories first."""
        with self._directory(path) as (fd, parts):
            found: list[FileInfo] = []
            with os.scandir(fd) as it:
                for item in it:
                    if len(found) >= limit:
                        break
                    try:
                        st = item.stat(follow_symlinks=False)
                    except OSError:
                        continue  # removed meanwhile
                    found.append(file_info(item.name, display([*parts, item.name]), st))
        found.sort(key=lambda e: (e.type != "directory", e.name.lower(), e.name))
        return found

    def info(self, path: str) -> FileInfo:
        """What is at `path` (a link is described, not followed)."""
        parts = split_relative(path)
        shown = display(parts)
        with self._root_fd() as root_fd:
            if not parts:
                return file_info(".", ".", os.fstat(root_fd))
            parent_fd = self._parent_of(root_fd, parts, shown)
            try:
                st = os.stat(parts[-1], dir_fd=parent_fd, follow_symlinks=False)
            except OSError as exc:
                raise translate(exc, shown) from None
            finally:
                os.close(parent_fd)
        return file_info(parts[-1], shown, st)

    def open_file(self, path: str) -> OpenedFile:
        """Open a regular file for reading whole (same checks as `read_text`)."""
        parts = split_relative(path)
        shown = display(parts)
        if not parts:
            raise ToolArgumentError("'.' is the workspace directory; give a file name")
        with self._root_fd() as root_fd:
            fd = self._open_file(root_fd, parts, shown)
        st = os.fstat(fd)
        return OpenedFile(fd, parts[-1], st.st_size, file_info(parts[-1], shown, st).modified)

    def upload(self, path: str, max_bytes: int | None = None) -> UploadSink:
        """Start writing the file at `path` (parent folders are created); see `UploadSink`."""
        parts = split_relative(path)
        shown = display(parts)
        if not parts:
            raise ToolArgumentError("give a file name to upload to")
        with self._root_fd() as root_fd:
            try:
                parent_fd = self._open_parent(root_fd, parts)
            except OSError as exc:
                raise translate(exc, shown) from None
            try:
                replaced = self._existing_size(parent_fd, parts[-1], shown)
                claim = None
                if self.ledger is not None:
                    claim = self.ledger.claim(self.quota_bytes, replaced or 0)
                used = usage_bytes(root_fd) if self.quota_bytes is not None and claim is None else 0
            except BaseException:
                os.close(parent_fd)
                raise
        return UploadSink(
            parent_fd,
            parts[-1],
            shown,
            max_bytes=max_bytes,
            quota=(self.quota_bytes, used)
            if self.quota_bytes is not None and claim is None
            else None,
            replacing=replaced,
            claim=claim,
        )

    @staticmethod
    def _existing_size(parent_fd: int, name: str, shown: str) -> int | None:
        """The size of the regular file a write would replace; None when there is none."""
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise translate(exc, shown) from None
        check_regular(st, shown)
        return st.st_size

    def delete(self, path: str) -> None:
        """Remove a file, a link or a whole directory; the workspace itself cannot be."""
        parts = split_relative(path)
        shown = display(parts)
        if not parts:
            raise ToolArgumentError("the workspace itself cannot be deleted; name what is in it")
        with self._root_fd() as root_fd:
            parent_fd = self._parent_of(root_fd, parts, shown)
            try:
                with self.removing(parent_fd, parts[-1]):
                    remove_entry(parent_fd, parts[-1], shown)
            finally:
                os.close(parent_fd)

    @contextmanager
    def removing(self, parent_fd: int, name: str) -> Iterator[None]:
        """Around the removal of `name` from `parent_fd`: what it frees comes off the count
        (a removal that fails half-way has the workspace walked again)."""
        if self.ledger is None:
            yield
            return
        failed, freed = False, 0
        try:
            with self.ledger.hold() as count:
                freed = freed_bytes(parent_fd, name)
                try:
                    yield
                except BaseException:
                    failed = True
                    raise
                count.used -= freed
        finally:
            if failed and freed:  # (a path that was not there changed nothing)
                self.ledger.invalidate()

    def archive(self, path: str = ".") -> Iterator[bytes]:
        """A zip of a directory, streamed as it is built (links and special files left out)."""
        parts = split_relative(path)
        with self._root_fd() as root_fd:
            try:
                fd = self._open_beneath(root_fd, parts, DIR_FLAGS)
            except OSError as exc:
                raise translate(exc, display(parts)) from None
        return zip_chunks(fd, parts[-1] if parts else "")

    def _parent_of(self, root_fd: int, parts: list[str], shown: str) -> int:
        """The fd of the directory that holds the last part; caller closes."""
        try:
            return self._open_beneath(root_fd, parts[:-1], DIR_FLAGS)
        except OSError as exc:
            raise translate(exc, shown) from None
