"""Attacks on query_data and archive: nothing outside the workspace is read or written.

query_data's DuckDB must not read a file outside the workspace (directly, by `..`, or
through a link a command planted), write anything (COPY, ATTACH), or load code
(INSTALL, LOAD). archive extract must refuse every entry that could land outside the
destination, special files, and bombs (by declared size, ratio, and by the bytes that
actually come out when the declared sizes lie).
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from orchestrator.core.config import Settings
from orchestrator.core.errors import PathOutsideWorkspace, ToolArgumentError, ToolError
from orchestrator.tools.builtin import _archives
from orchestrator.tools.workspace import Workspace
from tests.tools.conftest import Secret, ToolCall


@pytest.fixture
def data(workspace: Workspace) -> Path:
    (workspace.root / "data").mkdir()
    (workspace.root / "data" / "sales.csv").write_text("region,amount\nnorth,10\nsouth,32\n")
    return workspace.root / "data" / "sales.csv"


async def _query_refused(call: ToolCall, secret: Secret, sql: str) -> str:
    with pytest.raises(ToolError) as caught:
        output = await call("query_data", sql=sql)
        assert secret.text not in output
    assert secret.text not in caught.value.message
    return caught.value.message


async def test_query_data_reads_workspace_csv_by_relative_path(call: ToolCall, data: Path) -> None:
    out = await call("query_data", sql="SELECT sum(amount) AS total FROM 'data/sales.csv'")
    assert '"rows": [[42]]' in out


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_csv_auto('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_text('{secret}')",
        "SELECT * FROM read_csv('../outside/secret.txt')",
        "SELECT * FROM read_csv('data/../../outside/secret.csv')",
        "SELECT * FROM read_text('../outside/secret.txt')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM read_text('/proc/self/environ')",
        "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
    ],
)
async def test_query_data_cannot_read_outside_the_workspace(
    call: ToolCall, secret: Secret, data: Path, sql: str
) -> None:
    await _query_refused(call, secret, sql.format(secret=secret.path))


async def test_query_data_does_not_follow_a_planted_link(
    call: ToolCall, secret: Secret, workspace: Workspace
) -> None:
    os.symlink(secret.path, workspace.root / "planted.csv")
    os.symlink(secret.path.parent, workspace.root / "outdir")
    await _query_refused(call, secret, "SELECT * FROM read_csv('planted.csv')")
    await _query_refused(call, secret, "SELECT * FROM read_text('outdir/secret.txt')")


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1) TO 'out.csv'",
        "COPY (SELECT 1) TO '/tmp/out.csv'",
        "ATTACH 'other.db'",
        "ATTACH '/tmp/x.db' AS x",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "PRAGMA version",
        "CREATE TABLE t AS SELECT 1",
        "SELECT 1; COPY (SELECT 1) TO 'out.csv'",
        "EXPORT DATABASE 'dump'",
    ],
)
async def test_query_data_refuses_writes_attach_and_extensions(
    call: ToolCall, secret: Secret, workspace: Workspace, sql: str
) -> None:
    message = await _query_refused(call, secret, sql)
    assert "SELECT" in message or "one SQL statement" in message
    assert sorted(p.name for p in workspace.root.iterdir()) == []


async def test_query_data_caps_rows(call: ToolCall) -> None:
    out = await call("query_data", sql="SELECT * FROM range(100000)", max_rows=5)
    assert '"row_count": 5' in out and '"truncated": true' in out


async def test_query_data_stops_a_slow_query(settings: Settings, workspace: Workspace) -> None:
    from orchestrator.tools.base import ToolContext
    from orchestrator.tools.builtin.data import query_data

    quick = settings.model_copy(update={"command_timeout": 0.5})
    ctx = ToolContext(user_id=1, workspace=workspace.root, settings=quick)
    sql = "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3"
    with pytest.raises(ToolError, match="stopped"):
        await query_data(ctx, {"sql": sql})


async def test_query_data_bad_sql_is_a_clear_error(call: ToolCall) -> None:
    with pytest.raises(ToolArgumentError, match=r"parse|failed"):
        await call("query_data", sql="SELEKT nothing")


# -- archives -------------------------------------------------------------------------


def _zip(path: Path, entries: dict[str, bytes], *, modes: dict[str, int] | None = None) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            if modes and name in modes:
                info.external_attr = modes[name] << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


def _tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for member in members:
            payload = (data or {}).get(member.name)
            if payload is not None:
                member.size = len(payload)
            archive.addfile(member, io.BytesIO(payload) if payload is not None else None)


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = link
    return member


def _outside_untouched(tmp_path: Path, before: list[str]) -> None:
    assert sorted(str(p) for p in tmp_path.rglob("*") if "workspaces" not in str(p)) == before


def _tree(tmp_path: Path) -> list[str]:
    return sorted(str(p) for p in tmp_path.rglob("*") if "workspaces" not in str(p))


@pytest.mark.parametrize(
    "name",
    ["../evil.txt", "../../outside/secret.txt", "a/../../evil.txt", "/tmp/evil.txt", "/evil"],
)
async def test_archive_extract_refuses_escaping_zip_names(
    call: ToolCall, workspace: Workspace, tmp_path: Path, name: str
) -> None:
    _zip(workspace.root / "bad.zip", {"ok.txt": b"fine", name: b"pwned"})
    before = _tree(tmp_path)
    with pytest.raises(PathOutsideWorkspace):
        await call("archive", action="extract", archive="bad.zip", destination="out")
    _outside_untouched(tmp_path, before)
    assert not (workspace.root / "out" / "ok.txt").exists()  # all or nothing


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "x/../../evil"])
async def test_archive_extract_refuses_escaping_tar_names(
    call: ToolCall, workspace: Workspace, tmp_path: Path, name: str
) -> None:
    _tar(workspace.root / "bad.tar.gz", [_member(name)], {name: b"pwned"})
    before = _tree(tmp_path)
    with pytest.raises(PathOutsideWorkspace):
        await call("archive", action="extract", archive="bad.tar.gz")
    _outside_untouched(tmp_path, before)


@pytest.mark.parametrize(
    ("kind", "link"),
    [
        (tarfile.SYMTYPE, "/etc/passwd"),
        (tarfile.SYMTYPE, "../../outside/secret.txt"),
        (tarfile.SYMTYPE, "sub/../../x"),
        (tarfile.LNKTYPE, "../outside/secret.txt"),
        (tarfile.LNKTYPE, "/etc/passwd"),
    ],
)
async def test_archive_extract_refuses_links_pointing_out(
    call: ToolCall, workspace: Workspace, secret: Secret, kind: bytes, link: str
) -> None:
    _tar(workspace.root / "links.tar.gz", [_member("link", kind, link)])
    with pytest.raises(PathOutsideWorkspace):
        await call("archive", action="extract", archive="links.tar.gz", destination="out")
    assert not os.path.lexists(workspace.root / "out" / "link")
    assert secret.path.read_text() == secret.text


async def test_archive_extract_refuses_a_zip_symlink_out(
    call: ToolCall, workspace: Workspace
) -> None:
    _zip(workspace.root / "l.zip", {"l": b"/etc/passwd"}, modes={"l": stat.S_IFLNK | 0o777})
    with pytest.raises(PathOutsideWorkspace):
        await call("archive", action="extract", archive="l.zip", destination="out")


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
async def test_archive_extract_refuses_devices_and_fifos(
    call: ToolCall, workspace: Workspace, kind: bytes
) -> None:
    member = _member("dev", kind)
    member.devmajor, member.devminor = 1, 3
    _tar(workspace.root / "dev.tar.gz", [member])
    with pytest.raises(ToolArgumentError, match="device"):
        await call("archive", action="extract", archive="dev.tar.gz", destination="out")
    assert not os.path.lexists(workspace.root / "out" / "dev")


async def test_archive_extract_stops_a_zip_bomb_by_ratio(
    call: ToolCall, workspace: Workspace
) -> None:
    _zip(workspace.root / "bomb.zip", {"zeros.bin": b"\0" * (64 * 1024 * 1024)})
    assert (workspace.root / "bomb.zip").stat().st_size < 1024 * 1024
    with pytest.raises(ToolArgumentError, match="bomb"):
        await call("archive", action="extract", archive="bomb.zip", destination="out")
    assert not (workspace.root / "out" / "zeros.bin").exists()


def test_archive_extract_stops_a_bomb_by_total_size(workspace: Workspace) -> None:
    _zip(workspace.root / "big.zip", {f"f{i}.bin": os.urandom(300_000) for i in range(4)})
    limits = _archives.ArchiveLimits(max_total_bytes=1_000_000)
    with pytest.raises(ToolArgumentError, match="limit"):
        _archives.extract(workspace, "big.zip", "out", limits)
    assert not any((workspace.root / "out").glob("*"))


def test_archive_extract_stops_a_bomb_whose_sizes_lie(workspace: Workspace) -> None:
    """Declared sizes say 1 KiB; the data inflates to 32 MiB: stopped while writing."""
    path = workspace.root / "liar.zip"
    _zip(path, {"zeros.bin": b"\0" * (32 * 1024 * 1024)})
    raw = bytearray(path.read_bytes())
    real = (32 * 1024 * 1024).to_bytes(4, "little")
    fake = (1024).to_bytes(4, "little")
    raw = bytearray(bytes(raw).replace(real, fake))  # local header and central directory
    path.write_bytes(bytes(raw))
    limits = _archives.ArchiveLimits(max_total_bytes=4 * 1024 * 1024, max_ratio=1000)
    with pytest.raises(ToolError):
        _archives.extract(workspace, "liar.zip", "out", limits)
    assert not (workspace.root / "out" / "zeros.bin").exists()


async def test_archive_extract_does_not_write_through_a_planted_link(
    call: ToolCall, workspace: Workspace, secret: Secret
) -> None:
    os.symlink(secret.path.parent, workspace.root / "out")
    _zip(workspace.root / "a.zip", {"secret.txt": b"overwritten"})
    with pytest.raises(ToolError):
        await call("archive", action="extract", archive="a.zip", destination="out")
    assert secret.path.read_text() == secret.text


async def test_archive_round_trip_creates_lists_and_extracts(
    call: ToolCall, workspace: Workspace
) -> None:
    (workspace.root / "src" / "pkg").mkdir(parents=True)
    (workspace.root / "src" / "pkg" / "a.py").write_text("print('a')\n")
    (workspace.root / "src" / "b.txt").write_text("b\n")
    for name in ("bundle.zip", "bundle.tar.gz"):
        assert '"files": 2' in await call("archive", action="create", archive=name, paths=["src"])
        listing = await call("archive", action="list", archive=name)
        assert "src/pkg/a.py" in listing
        await call("archive", action="extract", archive=name, destination=f"x-{name}")
        assert (workspace.root / f"x-{name}" / "src" / "pkg" / "a.py").read_text() == "print('a')\n"


async def test_archive_create_refuses_outside_sources(
    call: ToolCall, secret: Secret, workspace: Workspace
) -> None:
    with pytest.raises(PathOutsideWorkspace):
        await call("archive", action="create", archive="x.zip", paths=["../outside"])
    os.symlink(secret.path, workspace.root / "s.txt")
    with pytest.raises(ToolError):
        await call("archive", action="create", archive="y.zip", paths=["s.txt"])
