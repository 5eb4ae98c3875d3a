"""WORKSPACE_QUOTA_MB as a count shared by every process on the data dir: writes, uploads
and deletes from two processes at once keep it equal to what is on disk and never let
the workspace past its quota; what changes files behind it (a command, a writer it does
not see) is walked again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator.core.config import Settings
from orchestrator.core.errors import WorkspaceQuotaExceeded
from orchestrator.tools.sandbox import SandboxedCommandRunner
from orchestrator.tools.workspace import UsageLedger, Workspace, ops

KB = 1024
MIB = 1024 * KB

# One writer process: waits for "go" on stdin, then writes, deletes and uploads files
# of 40 KiB in its own folder of user 1's workspace (1 MiB quota), and reports.
WRITER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from orchestrator.core.config import Settings
    from orchestrator.core.errors import WorkspaceQuotaExceeded
    from orchestrator.tools.workspace import Workspace, ops

    data_dir, me = Path(sys.argv[1]), sys.argv[2]
    settings = Settings(_env_file=None, data_dir=data_dir, workspace_quota_mb=1)
    ws = Workspace.for_user(settings, 1)
    done = {"written": 0, "refused": 0, "uploaded": 0, "upload_refused": 0}
    sys.stdin.readline()
    for i in range(30):
        try:
            ws.write_text(f"{me}/f{i}.txt", "w" * 40 * 1024)
            done["written"] += 1
        except WorkspaceQuotaExceeded:
            done["refused"] += 1
    for i in range(0, 30, 2):  # half of what it wrote goes, one way or the other
        if (ws.root / me / f"f{i}.txt").exists():
            if i % 4:
                ws.delete(f"{me}/f{i}.txt")
            else:
                ops.delete(ws, f"{me}/f{i}.txt")
    for i in range(20):
        try:
            with ws.upload(f"{me}/u{i}.bin", 10 * 1024 * 1024) as sink:
                for _ in range(4):
                    sink.write(b"u" * 10 * 1024)
                sink.commit()
            done["uploaded"] += 1
        except WorkspaceQuotaExceeded:
            done["upload_refused"] += 1
    print(json.dumps(done))
    """
)


def _env() -> dict[str, str]:
    src = Path(__file__).resolve().parents[2] / "src"
    return {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def test_two_processes_writing_at_once_never_go_over_the_quota(settings: Settings) -> None:
    small = settings.model_copy(update={"workspace_quota_mb": 1})
    workspace = Workspace.for_user(small, 1)
    (workspace.root / "old.bin").write_bytes(b"o" * 100 * KB)  # there before any count
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(small.data_dir), name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for name in ("a", "b")
    ]
    for writer in writers:  # both start together
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    reports = []
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        reports.append(json.loads(out))

    on_disk = workspace.usage()
    assert on_disk <= MIB
    assert workspace.counted_usage() == on_disk  # the shared count lost no change
    # The quota was really reached, and not refused early. An upload claims its bytes as
    # they come, so one writer's last upload can be refused while the other's is half
    # claimed, and then that one refused in turn: room for less than one more file of
    # each writer (CI once ended with 44 KiB free, which one writer alone never leaves).
    assert sum(r["refused"] for r in reports) > 0 and sum(r["upload_refused"] for r in reports)
    written = sum(r["written"] for r in reports)
    assert 100 * KB + written * 40 * KB > MIB - 40 * KB
    assert on_disk > MIB - 2 * 40 * KB


def test_concurrent_uploads_claim_their_bytes_before_they_are_in_place(
    settings: Settings,
) -> None:
    workspace = Workspace.for_user(settings.model_copy(update={"workspace_quota_mb": 1}), 1)
    with workspace.upload("a.bin") as first, workspace.upload("b.bin") as second:
        first.write(b"a" * 600 * KB)
        with pytest.raises(WorkspaceQuotaExceeded, match="WORKSPACE_QUOTA_MB = 1 MB"):
            second.write(b"b" * 600 * KB)  # the first one's bytes are not on disk yet
        first.commit()
    assert workspace.usage() == workspace.counted_usage() == 600 * KB
    with workspace.upload("c.bin") as given_up:
        given_up.write(b"c" * 300 * KB)
    assert workspace.counted_usage() == 600 * KB  # a write given up hands its claim back
    workspace.write_text("a.bin", "x" * 900 * KB)  # replacing counts the difference only
    assert workspace.usage() == workspace.counted_usage() == 900 * KB


def test_deletes_take_what_they_free_off_the_count(settings: Settings) -> None:
    workspace = Workspace.for_user(settings, 1)
    for name in ("d/one.txt", "d/e/two.txt", "three.txt"):
        workspace.write_text(name, "z" * 10 * KB)
    os.link(workspace.root / "three.txt", workspace.root / "d" / "three-again.txt")
    assert workspace.counted_usage() == 30 * KB
    workspace.delete("three.txt")  # its other link keeps the bytes
    assert workspace.counted_usage() == workspace.usage() == 30 * KB
    ops.delete(workspace, "d", recursive=True)
    assert workspace.counted_usage() == workspace.usage() == 0


def test_changes_behind_the_count_are_walked_again(settings: Settings, tmp_path: Path) -> None:
    small = settings.model_copy(update={"workspace_quota_mb": 1})
    now = [1000.0]
    ledger = UsageLedger(
        small.workspaces_dir / ".usage" / "1",
        Workspace.for_user(small, 1).root,
        clock=lambda: now[0],
    )
    workspace = Workspace(ledger.root, quota_bytes=MIB, ledger=ledger)
    workspace.write_text("a.txt", "a" * 100 * KB)
    (ledger.root / "by-mcp-server.bin").write_bytes(b"m" * 800 * KB)  # unseen by the count
    workspace.write_text("b.txt", "b" * 200 * KB)  # the count still says 100 KiB
    assert workspace.counted_usage() == 300 * KB
    now[0] += 61  # RESYNC_SECONDS later the count is walked again
    with pytest.raises(WorkspaceQuotaExceeded):
        workspace.write_text("c.txt", "c" * 100 * KB)
    assert workspace.counted_usage() == workspace.usage() == 1100 * KB

    (ledger.root / "by-mcp-server.bin").unlink()
    (ledger.root / "by-command.bin").write_bytes(b"c" * 700 * KB)
    workspace.usage_changed()  # what a command's end does
    with pytest.raises(WorkspaceQuotaExceeded):
        workspace.write_text("c.txt", "c" * 100 * KB)
    assert workspace.counted_usage() == workspace.usage() == 1000 * KB


def test_only_users_workspaces_keep_a_count(settings: Settings, tmp_path: Path) -> None:
    assert Workspace.for_user(settings, 7).ledger is not None
    assert UsageLedger.for_root(settings, tmp_path / "orch-eval-x") is None
    garbled = Workspace.for_user(settings, 8)
    garbled.write_text("a.txt", "a" * KB)
    assert garbled.ledger is not None
    garbled.ledger.path.write_text("nonsense")  # a damaged count is walked again
    assert garbled.counted_usage() == KB


@pytest.mark.usefixtures("sandboxed")
async def test_what_a_command_writes_and_removes_is_counted_after_it(settings: Settings) -> None:
    small = settings.model_copy(update={"workspace_quota_mb": 1})
    workspace = Workspace.for_user(small, 1)
    workspace.write_text("mine.txt", "m" * 100 * KB)
    assert workspace.counted_usage() == 100 * KB
    commands = SandboxedCommandRunner(small)
    done = await commands.run("head -c 819200 /dev/zero > build.bin", workspace.root)
    assert done.exit_code == 0, done.output
    with pytest.raises(WorkspaceQuotaExceeded):
        workspace.write_text("notes.txt", "n" * 200 * KB)
    assert workspace.counted_usage() == 900 * KB
    await commands.run("rm build.bin mine.txt", workspace.root)
    workspace.write_text("notes.txt", "n" * 200 * KB)
    assert workspace.counted_usage() == workspace.usage() == 200 * KB
