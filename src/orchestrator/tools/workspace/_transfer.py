"""Moving whole files in and out of a workspace: uploads, downloads, deletes and zips.

Every step works on fds that `Workspace` resolved beneath its root; nothing here joins
a path string onto the file system.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import zipfile
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from orchestrator.core.errors import PayloadTooLarge, ToolError
from orchestrator.tools.workspace._fs import FILE_FLAGS, translate
from orchestrator.tools.workspace._ledger import Claim, replaced_bytes
from orchestrator.tools.workspace._search import SearchBudget, walk_tree
from orchestrator.tools.workspace._usage import MIB, quota_error, room_left

CHUNK_BYTES = 256 * 1024
MAX_ARCHIVE_ENTRIES = 100_000
FileType = Literal["file", "directory", "symlink", "other"]


class FileInfo(BaseModel):
    """One workspace entry as the HTTP API shows it."""

    name: str
    path: str
    type: FileType
    size: int | None  # regular files only
    modified: datetime


def file_info(name: str, path: str, st: os.stat_result) -> FileInfo:
    """A `FileInfo` from an lstat result."""
    mode = st.st_mode
    what: FileType = (
        "file"
        if stat.S_ISREG(mode)
        else "directory"
        if stat.S_ISDIR(mode)
        else "symlink"
        if stat.S_ISLNK(mode)
        else "other"
    )
    return FileInfo(
        name=name,
        path=path,
        type=what,
        size=st.st_size if what == "file" else None,
        modified=datetime.fromtimestamp(st.st_mtime, UTC),
    )


@dataclass
class OpenedFile:
    """A regular file opened for reading; the caller closes it (or drains `chunks`)."""

    fd: int
    name: str
    size: int
    modified: datetime

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes, then the fd is closed (also when the reader stops early)."""
        try:
            while chunk := os.read(self.fd, CHUNK_BYTES):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        """Close the fd (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class UploadSink:
    """An upload in progress: bytes go to a hidden temporary file beside the target, which
    replaces the target only on `commit`; anything else leaves the workspace as it was."""

    def __init__(
        self,
        parent_fd: int,
        name: str,
        shown: str,
        *,
        max_bytes: int | None,
        quota: tuple[int, int] | None,
        replacing: int | None,
        claim: Claim | None = None,
    ) -> None:
        self._parent_fd = parent_fd
        self._name = name
        self._shown = shown
        self._max_bytes = max_bytes
        self._quota = quota  # (quota bytes, bytes used now)
        self._room = None if quota is None else room_left(quota[0], quota[1], replacing or 0)
        self.replaces = replacing is not None  # an existing file is being replaced
        self._claim = claim  # the shared count's (the quota is then checked there)
        self._temp = f".upload-{secrets.token_hex(8)}.part"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            self._fd = os.open(self._temp, flags, 0o644, dir_fd=parent_fd)
        except OSError as exc:
            os.close(parent_fd)
            raise translate(exc, shown) from None
        self.size = 0
        self._done = False

    def write(self, data: bytes) -> None:
        """Append bytes; over MAX_UPLOAD_MB or the quota, `PayloadTooLarge` /
        `WorkspaceQuotaExceeded` (the upload is then discarded by `close`)."""
        self.size += len(data)
        if self._max_bytes is not None and self.size > self._max_bytes:
            raise PayloadTooLarge(
                f"the upload is over MAX_UPLOAD_MB ({self._max_bytes // MIB} MB)",
                limit="MAX_UPLOAD_MB",
            )
        if self._quota is not None and self._room is not None and self.size > self._room:
            raise quota_error(self._quota[0], self._quota[1], self.size)
        if self._claim is not None:
            self._claim.grow(self.size)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise translate(exc, self._shown) from None

    def commit(self) -> int:
        """Put the uploaded file in place (atomically); returns its size."""
        try:
            os.fsync(self._fd)
            try:
                st = os.stat(self._name, dir_fd=self._parent_fd, follow_symlinks=False)
            except FileNotFoundError:
                pass
            else:  # a link or directory put there meanwhile is never replaced
                if not stat.S_ISREG(st.st_mode):
                    raise ToolError(f"{self._shown!r} is not a regular file; nothing replaced")
            if self._claim is None:
                self._put()
            else:
                self._claim.commit(
                    self.size, lambda: replaced_bytes(self._parent_fd, self._name), self._put
                )
        except OSError as exc:
            raise translate(exc, self._shown) from None
        self._done = True
        return self.size

    def _put(self) -> None:
        os.rename(self._temp, self._name, src_dir_fd=self._parent_fd, dst_dir_fd=self._parent_fd)

    def close(self) -> None:
        """Release the fds; without a commit, the temporary file is removed (and its claim
        on the quota handed back)."""
        if self._claim is not None:
            self._claim.abort()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if not self._done:
            with suppress(OSError):
                os.unlink(self._temp, dir_fd=self._parent_fd)
            self._done = True
        if self._parent_fd >= 0:
            os.close(self._parent_fd)
            self._parent_fd = -1

    def __enter__(self) -> UploadSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_entry(parent_fd: int, name: str, shown: str) -> None:
    """Delete a file, link or whole directory tree; links are removed, never followed."""
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            # fd-based walk (`_rmtree_safe_fd`): a link swapped in cannot lead it outside.
            shutil.rmtree(name, dir_fd=parent_fd)
        else:
            os.unlink(name, dir_fd=parent_fd)
    except OSError as exc:
        raise translate(exc, shown) from None


class _ZipOutput:
    """An unseekable sink for zipfile: it collects what is written until drained."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    @property
    def pending(self) -> int:
        """Bytes written and not drained yet."""
        return sum(len(c) for c in self._chunks)

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def zip_chunks(dir_fd: int, prefix: str) -> Iterator[bytes]:
    """A zip of the directory at `dir_fd` (which this closes), produced as it is read.

    Links, special files and hard-linked files are left out, as the file tools refuse them.
    """
    out = _ZipOutput()
    budget = SearchBudget(entries=MAX_ARCHIVE_ENTRIES, content_bytes=1)  # contents not counted
    try:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:  # type: ignore[arg-type]
            for rel, what, parent_fd, name in walk_tree(dir_fd, ".", budget):
                arcname = f"{prefix}/{rel}" if prefix else rel
                if what == "dir":
                    zf.writestr(zipfile.ZipInfo(arcname + "/"), b"")
                    continue
                yield from _zip_file(zf, out, parent_fd, name, arcname)
                if out.pending:
                    yield out.drain()
        if out.pending:
            yield out.drain()
    finally:
        os.close(dir_fd)


def _zip_time(mtime: float) -> tuple[int, int, int, int, int, int]:
    """Zip's local date and time; zip cannot hold dates before 1980."""
    moment = datetime.fromtimestamp(
        max(mtime, 315_705_600)
    )  # 1980-01-03: zip holds no earlier date
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def _zip_file(
    zf: zipfile.ZipFile, out: _ZipOutput, parent_fd: int, name: str, arcname: str
) -> Iterator[bytes]:
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=parent_fd)
    except OSError:
        return  # vanished or replaced by a link meanwhile
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            return
        info = zipfile.ZipInfo(arcname, date_time=_zip_time(st.st_mtime))
        info.external_attr = (st.st_mode & 0xFFFF) << 16
        info.file_size = st.st_size
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=st.st_size > 2**31) as entry:
            while chunk := os.read(fd, CHUNK_BYTES):
                entry.write(chunk)
                if out.pending > CHUNK_BYTES:
                    yield out.drain()
    finally:
        os.close(fd)
