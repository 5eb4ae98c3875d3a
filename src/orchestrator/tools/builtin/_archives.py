"""Zip and tar(.gz) archives in a workspace, with the standard library's zipfile and tarfile.

Extraction checks every entry before anything is written: a name with `..`, an absolute
name, a link (symbolic or hard) that points outside the destination, a device, FIFO or
other special entry is refused, and so is the whole archive. Bombs are stopped twice:
by the sizes the archive declares (total and ratio to the archive's size) and by the
bytes actually written, since declared sizes can lie. On any refusal during extraction,
what was already extracted is removed again.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from orchestrator.core.errors import PathOutsideWorkspace, ToolArgumentError, ToolError
from orchestrator.tools.workspace import Workspace, split_relative
from orchestrator.tools.workspace._fs import DIR_FLAGS, FILE_FLAGS, display, translate, walk_dirs
from orchestrator.tools.workspace._search import SearchBudget, walk_tree


@dataclass(frozen=True)
class ArchiveLimits:
    """How much one archive may hold when unpacked."""

    max_total_bytes: int = 512 * 1024**2
    max_ratio: float = 100.0  # unpacked size / archive size
    max_entries: int = 10_000


@dataclass
class Entry:
    """One entry, whatever the format."""

    name: str
    kind: str  # file, dir, symlink, hardlink, special
    size: int
    link: str = ""
    member: object = None


def _kind_of(path: str) -> str:
    lowered = path.lower()
    if lowered.endswith(".zip"):
        return "zip"
    if lowered.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if lowered.endswith(".tar"):
        return "tar"
    raise ToolArgumentError("the archive's name must end in .zip, .tar, .tar.gz or .tgz")


@contextlib.contextmanager
def _open_archive_file(ws: Workspace, path: str) -> Iterator[tuple[IO[bytes], int]]:
    parts = split_relative(path)
    with ws._root_fd() as root_fd:
        fd = ws._open_file(root_fd, parts, display(parts))
    file = os.fdopen(fd, "rb")
    try:
        yield file, os.fstat(fd).st_size
    finally:
        file.close()


def _zip_entries(archive: zipfile.ZipFile) -> list[Entry]:
    entries = []
    for info in archive.infolist():
        mode = info.external_attr >> 16
        if info.is_dir():
            kind = "dir"
        elif stat.S_ISLNK(mode):
            kind = "symlink"
        elif mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode):
            kind = "special"
        else:
            kind = "file"
        link = archive.read(info).decode("utf-8", "replace") if kind == "symlink" else ""
        entries.append(Entry(info.filename, kind, info.file_size, link, info))
    return entries


def _tar_entries(archive: tarfile.TarFile) -> list[Entry]:
    entries = []
    for member in archive:
        if member.isdir():
            kind = "dir"
        elif member.isfile():
            kind = "file"
        elif member.issym():
            kind = "symlink"
        elif member.islnk():
            kind = "hardlink"
        else:
            kind = "special"
        entries.append(Entry(member.name, kind, member.size, member.linkname, member))
    return entries


def _check_name(name: str) -> list[str]:
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or name.startswith("\\"):
        raise PathOutsideWorkspace(f"the archive holds an absolute path {name!r}; refused")
    if "\\" in name:
        name = name.replace("\\", "/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PathOutsideWorkspace(f"the archive holds a path with '..' ({name!r}); refused")
    if not parts:
        raise ToolArgumentError(f"the archive holds an empty name {name!r}")
    return parts


def check_entries(entries: list[Entry], archive_size: int, limits: ArchiveLimits) -> None:
    """Refuse the whole archive if any entry could escape or it unpacks too big."""
    if len(entries) > limits.max_entries:
        raise ToolArgumentError(
            f"the archive has {len(entries)} entries; at most {limits.max_entries}"
        )
    total = 0
    for entry in entries:
        parts = _check_name(entry.name)
        if entry.kind == "special":
            raise ToolArgumentError(
                f"the archive entry {entry.name!r} is a device, FIFO or other special file; refused"
            )
        if entry.kind in ("symlink", "hardlink"):
            base = posixpath.dirname("/".join(parts)) if entry.kind == "symlink" else ""
            target = posixpath.normpath(posixpath.join(base, entry.link))
            if entry.link.startswith("/") or target == ".." or target.startswith("../"):
                raise PathOutsideWorkspace(
                    f"the archive entry {entry.name!r} is a link to {entry.link!r}, outside the "
                    "destination; refused"
                )
        total += max(entry.size, 0)
    if total > limits.max_total_bytes:
        raise ToolArgumentError(
            f"the archive unpacks to {total} bytes; the limit is {limits.max_total_bytes}"
        )
    if total > 1024 * 1024 and total > limits.max_ratio * max(archive_size, 1):
        raise ToolArgumentError(
            f"the archive unpacks to {total} bytes from {archive_size} (ratio over "
            f"{limits.max_ratio:g}); refused as a likely archive bomb"
        )


def list_archive(ws: Workspace, path: str) -> list[dict[str, object]]:
    """Name, kind and size of every entry."""
    kind = _kind_of(path)
    with _open_archive_file(ws, path) as (file, _):
        entries = _read_entries(file, kind)
    return [{"name": e.name, "type": e.kind, "size": e.size} for e in entries[:1000]]


def _read_entries(file: IO[bytes], kind: str) -> list[Entry]:
    try:
        if kind == "zip":
            with zipfile.ZipFile(file) as archive:
                return _zip_entries(archive)
        with tarfile.open(fileobj=file, mode="r:gz" if kind == "tar.gz" else "r:") as archive:
            return _tar_entries(archive)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise ToolArgumentError(f"this is not a readable {kind} archive: {exc}") from None


class _Budget:
    def __init__(
        self, limits: ArchiveLimits, archive_size: int, reserve: Callable[[int], None]
    ) -> None:
        self.left = min(
            limits.max_total_bytes, max(int(limits.max_ratio * archive_size), 1024 * 1024)
        )
        self.written = 0
        self.reserve = reserve  # the workspace quota's, for the bytes written so far

    def spend(self, count: int) -> None:
        self.left -= count
        self.written += count
        self.reserve(self.written)
        if self.left < 0:
            raise ToolArgumentError(
                "the archive unpacks to more than its size and ratio limits allow (its "
                "declared sizes were false); refused as an archive bomb, nothing kept"
            )


def extract(
    ws: Workspace, path: str, destination: str, limits: ArchiveLimits | None = None
) -> list[str]:
    """Unpack into `destination` (created); the names written. All or nothing."""
    limits = limits or ArchiveLimits()
    kind = _kind_of(path)
    dest_parts = split_relative(destination)
    written: list[tuple[list[str], bool]] = []
    with _open_archive_file(ws, path) as (file, archive_size), ws.reserving() as reserve:
        entries = _read_entries(file, kind)
        check_entries(entries, archive_size, limits)
        budget = _Budget(limits, archive_size, reserve)
        file.seek(0)
        with ws._root_fd() as root_fd:
            try:
                dest_fd = walk_dirs(root_fd, dest_parts, create=True)
            except OSError as exc:
                raise translate(exc, display(dest_parts)) from None
            try:
                if kind == "zip":
                    with zipfile.ZipFile(file) as archive:
                        _unpack(archive, entries, dest_fd, budget, written, kind)
                else:
                    mode = "r:gz" if kind == "tar.gz" else "r:"
                    with tarfile.open(fileobj=file, mode=mode) as archive:
                        _unpack(archive, _tar_entries(archive), dest_fd, budget, written, kind)
            except BaseException:
                _remove(dest_fd, written)
                raise
            finally:
                os.close(dest_fd)
    prefix = display(dest_parts)
    return [f"{prefix}/{'/'.join(p)}" if prefix != "." else "/".join(p) for p, _ in written]


def _unpack(
    archive: zipfile.ZipFile | tarfile.TarFile,
    entries: list[Entry],
    dest_fd: int,
    budget: _Budget,
    written: list[tuple[list[str], bool]],
    kind: str,
) -> None:
    for entry in entries:
        parts = _check_name(entry.name)
        if entry.kind == "dir":
            os.close(walk_dirs(dest_fd, parts, create=True))
            continue
        parent = walk_dirs(dest_fd, parts[:-1], create=True)
        try:
            if entry.kind == "symlink":
                os.symlink(entry.link, parts[-1], dir_fd=parent)
                written.append((parts, False))
                continue
            if entry.kind == "hardlink":  # stored as a copy: the workspace refuses hard links
                assert isinstance(archive, tarfile.TarFile)
                source = archive.getmember(entry.link)
                stream = archive.extractfile(source)
            elif isinstance(archive, zipfile.ZipFile):
                stream = archive.open(entry.member)  # type: ignore[arg-type]
            else:
                stream = archive.extractfile(entry.member)  # type: ignore[arg-type]
            if stream is None:
                raise ToolArgumentError(f"cannot read the entry {entry.name!r}")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                fd = os.open(parts[-1], flags, 0o644, dir_fd=parent)
            except FileExistsError:
                raise ToolArgumentError(
                    f"{'/'.join(parts)!r} already exists in the destination; extract into "
                    "an empty folder"
                ) from None
            written.append((parts, True))
            with stream, os.fdopen(fd, "wb") as out:
                while chunk := stream.read(1 << 16):
                    budget.spend(len(chunk))
                    out.write(chunk)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
            raise ToolArgumentError(f"the {kind} archive is damaged: {exc}") from None
        finally:
            os.close(parent)


def _remove(dest_fd: int, written: list[tuple[list[str], bool]]) -> None:
    for parts, _ in reversed(written):
        with contextlib.suppress(OSError):
            parent = walk_dirs(dest_fd, parts[:-1], create=False)
            try:
                os.unlink(parts[-1], dir_fd=parent)
            finally:
                os.close(parent)


def create(
    ws: Workspace, path: str, sources: list[str], limits: ArchiveLimits | None = None
) -> int:
    """Pack workspace files and folders into a new archive; the number of files packed."""
    limits = limits or ArchiveLimits()
    kind = _kind_of(path)
    parts = split_relative(path)
    if not parts:
        raise ToolArgumentError("name the archive to create")
    count, total = 0, 0
    with ws._root_fd() as root_fd, ws.reserving() as reserve:
        try:
            parent = ws._open_parent(root_fd, parts)
        except OSError as exc:
            raise translate(exc, display(parts)) from None
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            out_fd = os.open(parts[-1], flags, 0o644, dir_fd=parent)
        except FileExistsError:
            os.close(parent)
            raise ToolArgumentError(f"{display(parts)!r} already exists") from None
        try:
            with os.fdopen(out_fd, "wb") as out:
                archive: zipfile.ZipFile | tarfile.TarFile
                if kind == "zip":
                    archive = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED)
                else:
                    archive = tarfile.open(  # noqa: SIM115 - closed by the `with` below
                        fileobj=out, mode="w:gz" if kind == "tar.gz" else "w"
                    )
                with archive:
                    for name, data in _files(ws, root_fd, sources, display(parts)):
                        total += len(data)
                        if total > limits.max_total_bytes:
                            raise ToolArgumentError("the files to pack are over 512 MiB")
                        count += 1
                        reserve(out.tell() + len(data))  # at most this once packed
                        if isinstance(archive, zipfile.ZipFile):
                            archive.writestr(name, data)
                        else:
                            import io

                            info = tarfile.TarInfo(name)
                            info.size = len(data)
                            info.mode = 0o644
                            archive.addfile(info, io.BytesIO(data))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(parts[-1], dir_fd=parent)
            raise
        finally:
            os.close(parent)
    if count == 0:
        raise ToolError("nothing to pack")
    return count


def _files(
    ws: Workspace, root_fd: int, sources: list[str], skip: str
) -> Iterator[tuple[str, bytes]]:
    from orchestrator.tools.workspace._fs import read_at_most

    for source in sources:
        parts = split_relative(source)
        shown = display(parts)
        try:
            probe = ws._open_beneath(root_fd, parts, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise translate(exc, shown) from None
        mode = os.fstat(probe).st_mode
        os.close(probe)
        if stat.S_ISREG(mode):
            fd = ws._open_file(root_fd, parts, shown)
            try:
                yield shown, read_at_most(fd, ws.max_read_bytes * 512)
            finally:
                os.close(fd)
            continue
        if not stat.S_ISDIR(mode):
            raise ToolArgumentError(f"{shown!r} is not a file or directory")
        dir_fd = ws._open_beneath(root_fd, parts, DIR_FLAGS)
        try:
            for rel, what, parent_fd, name in walk_tree(dir_fd, shown, SearchBudget()):
                if what != "file" or rel == skip:
                    continue
                fd = os.open(name, FILE_FLAGS, dir_fd=parent_fd)
                try:
                    if os.fstat(fd).st_nlink > 1:
                        continue
                    yield rel, read_at_most(fd, ws.max_read_bytes * 512)
                finally:
                    os.close(fd)
        finally:
            os.close(dir_fd)
