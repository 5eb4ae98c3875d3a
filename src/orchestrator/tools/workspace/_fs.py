"""Low-level, fd-relative file system steps: no path is ever resolved as a string."""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from contextlib import suppress
from typing import Literal

from orchestrator.core.errors import (
    PathOutsideWorkspace,
    ToolArgumentError,
    ToolDenied,
    ToolError,
    WorkspacePathNotFound,
)

MAX_PATH_LENGTH = 4096
EntryType = Literal["file", "dir", "symlink", "other"]

_SYS_OPENAT2 = 437  # same number on every Linux architecture (unified syscall table)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOCTTY: a tty never becomes ours.
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


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


OPENAT2 = _Openat2()


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


def display(parts: list[str]) -> str:
    return "/".join(parts) or "."


def translate(exc: OSError, shown: str) -> ToolError:
    """Turn an OSError from resolution into the message the model reads."""
    code = exc.errno
    if code in (errno.ELOOP, errno.EXDEV):
        return PathOutsideWorkspace(
            f"{shown!r} goes through a symbolic link or leaves the workspace; "
            "links are not followed"
        )
    if code == errno.ENOENT:
        return WorkspacePathNotFound(f"{shown!r} does not exist")
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


def kind(mode: int) -> EntryType:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


def check_regular(st: os.stat_result, shown: str) -> None:
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


def walk_dirs(root_fd: int, names: list[str], *, create: bool) -> int:
    """Descend one directory at a time from the root fd, refusing links; caller closes."""
    fd = os.dup(root_fd)
    try:
        for name in names:
            if create:
                with suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=fd)
            next_fd = os.open(name, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        return os.dup(fd)
    finally:
        os.close(fd)


def read_at_most(fd: int, limit: int) -> bytes:
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
