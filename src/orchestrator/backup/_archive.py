"""`orchestrator backup FILE` and `orchestrator restore FILE`.

A backup is one gzip'd tar archive of DATA_DIR: the SQLite database (and every other
SQLite file, such as the vector store's), copied through SQLite's online backup API, so
the copy is consistent even while runs write; the workspaces, the vector store's files,
the knowledge files and the generated secret key as they are. Its first member,
`orchestrator-backup.json`, says what it is; its last, `manifest.json`, lists every file
with its size and SHA-256. On Postgres the database is not in the archive: `pg_dump`
saves it (see README), and the archive holds the files.

A restore goes into an empty (or missing) DATA_DIR only. It unpacks into a new directory
beside it, checks every file against the manifest, and only then renames that directory
into place: a truncated, damaged or foreign archive leaves nothing behind.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from pydantic import BaseModel, ValidationError

from orchestrator.core.config import Settings
from orchestrator.core.errors import OrchestratorError

FORMAT = "orchestrator-backup"
VERSION = 1
HEADER = "orchestrator-backup.json"
MANIFEST = "manifest.json"
FILES = "data/"  # DATA_DIR's files live under this folder of the archive
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")
CHUNK = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"

Progress = Callable[[int], None]  # called with each number of bytes done


class BackupError(OrchestratorError):
    """A backup or restore that cannot be done; the message says why and what to do."""

    code = "backup_error"


class Header(BaseModel):
    format: str
    version: int
    created_at: datetime
    database: str  # "sqlite" (in the archive) or "postgresql" (use pg_dump)


class Entry(BaseModel):
    path: str  # relative to DATA_DIR, POSIX
    size: int
    sha256: str


class Manifest(BaseModel):
    format: str
    version: int
    files: list[Entry]


@dataclass
class Plan:
    """What a backup will hold: the files, and how many bytes in all."""

    sqlite: list[Path]  # copied through the online backup API
    plain: list[Path]
    skipped: list[Path]  # symlinks, sockets and other non-files
    total: int


def database_kind(settings: Settings) -> str:
    return "sqlite" if settings.resolved_database_url.startswith("sqlite") else "postgresql"


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def plan_backup(settings: Settings, target: Path) -> Plan:
    """The files of DATA_DIR to back up (never the target itself, nor SQLite's journals)."""
    root = settings.data_dir
    if not root.is_dir():
        raise BackupError(f"DATA_DIR {root} does not exist: nothing to back up")
    sqlite_files, plain, skipped, total = [], [], [], 0
    target = target.resolve()
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            if path == target or path.name.startswith(f".{target.name}."):
                continue
            if path.is_symlink() or not path.is_file():
                skipped.append(path)
                continue
            if name.endswith(SQLITE_SIDECARS) and Path(folder, _strip(name)).exists():
                continue  # the backup API reads them through the database itself
            (sqlite_files if _is_sqlite(path) else plain).append(path)
            total += path.stat().st_size
    return Plan(sqlite_files, plain, skipped, total)


def _strip(name: str) -> str:
    for suffix in SQLITE_SIDECARS:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


class _Hashing:
    """A file object that hashes and counts what is read through it."""

    def __init__(self, file: IO[bytes], progress: Progress | None) -> None:
        self.file = file
        self.progress = progress
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.hash.update(data)
        self.size += len(data)
        if self.progress is not None and data:
            self.progress(len(data))
        return data


def create_backup(settings: Settings, target: Path, progress: Progress | None = None) -> Manifest:
    """Write the archive of DATA_DIR to `target` (written beside it, then renamed)."""
    plan = plan_backup(settings, target)
    return write_backup(settings, target, plan, progress)


def write_backup(
    settings: Settings, target: Path, plan: Plan, progress: Progress | None = None
) -> Manifest:
    root = settings.data_dir
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    entries: list[Entry] = []
    header = Header(
        format=FORMAT,
        version=VERSION,
        created_at=datetime.now(UTC),
        database=database_kind(settings),
    )
    try:
        with (
            tempfile.TemporaryDirectory(prefix="orchestrator-backup-") as scratch,
            tarfile.open(partial, "w:gz", compresslevel=3) as archive,
        ):
            _add_bytes(archive, HEADER, header.model_dump_json(indent=2).encode())
            for index, path in enumerate(plan.sqlite):
                snapshot = Path(scratch, f"{index}.db")
                _snapshot_sqlite(path, snapshot)
                entries.append(_add_file(archive, snapshot, path.relative_to(root), progress))
            for path in plan.plain:
                try:
                    entries.append(_add_file(archive, path, path.relative_to(root), progress))
                except FileNotFoundError:
                    continue  # removed since the plan (a run deleted it): not in the backup
            manifest = Manifest(format=FORMAT, version=VERSION, files=entries)
            _add_bytes(archive, MANIFEST, manifest.model_dump_json(indent=2).encode())
        os.chmod(partial, 0o600)  # it holds the secret key and every user's data
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return manifest


def _snapshot_sqlite(source: Path, copy: Path) -> None:
    """A consistent copy of a live SQLite database (the online backup API)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst, pages=1024)
        finally:
            dst.close()
    finally:
        src.close()


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


def _add_file(
    archive: tarfile.TarFile, source: Path, relative: Path, progress: Progress | None
) -> Entry:
    """Add one file under `data/`, hashing exactly the bytes archived."""
    name = FILES + relative.as_posix()
    with source.open("rb") as file:
        stat = os.fstat(file.fileno())
        info = tarfile.TarInfo(name)
        info.size = stat.st_size
        info.mtime = int(stat.st_mtime)
        info.mode = stat.st_mode & 0o700 or 0o600
        reader = _Hashing(file, progress)
        archive.addfile(info, reader)  # type: ignore[arg-type]
    return Entry(path=relative.as_posix(), size=reader.size, sha256=reader.hash.hexdigest())


class _Counting:
    """The archive file, counting the bytes read from it (restore's progress)."""

    def __init__(self, file: IO[bytes], progress: Progress | None) -> None:
        self.file = file
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        if self.progress is not None and data:
            self.progress(len(data))
        return data


def restore_backup(settings: Settings, source: Path, progress: Progress | None = None) -> Header:
    """Unpack `source` into DATA_DIR, which must be empty or missing; all or nothing."""
    root = settings.data_dir
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise BackupError(
            f"DATA_DIR {root} is not empty: restore into an empty or new directory "
            "(set DATA_DIR), so that nothing there is overwritten"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.restore-", dir=root.parent))
    try:
        header = _unpack(source, staging, progress)
        if root.exists():
            root.rmdir()  # empty, checked above
        os.replace(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return header


def _unpack(source: Path, staging: Path, progress: Progress | None) -> Header:
    extracted: dict[str, Entry] = {}
    header: Header | None = None
    manifest: Manifest | None = None
    with source.open("rb") as raw:
        if raw.read(2) != GZIP_MAGIC:
            raise BackupError(f"{source} is not an orchestrator backup (not a .tar.gz archive)")
        raw.seek(0)
        try:
            stream = gzip.GzipFile(fileobj=_Counting(raw, progress), mode="rb")  # type: ignore[arg-type]
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                for member in _members(archive):
                    if header is None:
                        header = _read_header(archive, member)
                    elif manifest is not None:
                        raise BackupError(f"{source}: files after the manifest; not a backup")
                    elif member.name == MANIFEST:
                        manifest = _read_model(archive, member, Manifest)
                    else:
                        entry = _extract(archive, member, staging)
                        extracted[entry.path] = entry
            while stream.read(CHUNK):  # to the end: gzip checks its length and CRC there
                pass
        except (tarfile.TarError, EOFError, OSError, zlib.error, UnicodeDecodeError) as exc:
            if header is None:
                raise BackupError(
                    f"{source} is not an orchestrator backup (not a readable archive)"
                ) from exc
            raise BackupError(f"{source} is truncated or damaged ({exc})") from exc
    if header is None:
        raise BackupError(f"{source} is not an orchestrator backup (empty archive)")
    if manifest is None:
        raise BackupError(f"{source} is truncated: its manifest is missing")
    expected = {entry.path: entry for entry in manifest.files}
    damaged = sorted(
        path
        for path in expected.keys() | extracted.keys()
        if expected.get(path) != extracted.get(path)
    )
    if damaged:
        raise BackupError(
            f"{source} is damaged: {len(damaged)} files differ from its manifest "
            f"(first: {damaged[0]})"
        )
    return header


def _members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while (member := archive.next()) is not None:
        yield member


def _read_header(archive: tarfile.TarFile, member: tarfile.TarInfo) -> Header:
    if member.name != HEADER:
        raise BackupError("not an orchestrator backup (no orchestrator-backup.json first)")
    header = _read_model(archive, member, Header)
    if header.format != FORMAT:
        raise BackupError(f"not an orchestrator backup (format {header.format!r})")
    if header.version > VERSION:
        raise BackupError(
            f"this backup has format version {header.version}; this orchestrator reads "
            f"up to {VERSION}: upgrade it first"
        )
    return header


def _read_model(archive: tarfile.TarFile, member: tarfile.TarInfo, model: Any) -> Any:
    if not member.isfile() or member.size > 64 * 1024 * 1024:
        raise BackupError(f"not an orchestrator backup ({member.name} is not a small file)")
    file = archive.extractfile(member)
    assert file is not None
    try:
        return model.model_validate(json.loads(file.read()))
    except (ValueError, ValidationError) as exc:
        raise BackupError(f"not an orchestrator backup ({member.name} is unreadable)") from exc


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo, staging: Path) -> Entry:
    """Write one regular file under `data/` into the staging directory, hashing it."""
    name = PurePosixPath(member.name)
    parts = name.parts
    if (
        not member.isfile()
        or len(parts) < 2
        or parts[0] != FILES.rstrip("/")
        or name.is_absolute()
        or any(part in {"", ".", ".."} for part in parts)
    ):
        raise BackupError(f"the archive holds an unexpected entry {member.name!r}; refused")
    relative = PurePosixPath(*parts[1:])
    target = staging.joinpath(*relative.parts)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    source = archive.extractfile(member)
    assert source is not None
    digest, size = hashlib.sha256(), 0
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    os.chmod(target, 0o600)
    return Entry(path=relative.as_posix(), size=size, sha256=digest.hexdigest())
