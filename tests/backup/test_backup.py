"""`orchestrator backup` / `restore` as a user runs them: a backup taken while a run
executes restores into an empty DATA_DIR that serves the same accounts, conversations,
run events, memories and files; bad archives and non-empty targets are refused, and
nothing half-restored is ever left behind."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.app import create_app
from orchestrator.cli import app as cli
from orchestrator.core.config import Settings
from tests.conftest import TEST_SECRET, Api, make_settings, scripted_gateway
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread

BIN = Path(sys.executable).parent / "orchestrator"


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return {**env, "DATA_DIR": str(data_dir), "SECRET_KEY": TEST_SECRET}


@contextmanager
def _serve(settings: Settings, model: ScriptedModelServer) -> Iterator[Api]:
    settings = settings.model_copy(update={"ollama_url": model.url})
    with serve_in_thread(create_app(settings, models=scripted_gateway(settings, model))) as url:
        api = Api(url)
        yield api
        api.client.close()


def _wait(check, seconds: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def test_backup_taken_while_a_run_executes_restores_into_an_empty_data_dir(
    settings: Settings, model: ScriptedModelServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    archive = tmp_path_factory.mktemp("backups") / "nightly.tar.gz"
    with _serve(settings, model) as api:
        user = api.register("alice")
        model.enqueue(text="Paris is the capital of France.")
        chat = api.client.post(
            "/chat", json={"message": "capital of France?"}, headers=user.headers
        ).json()
        put = api.client.put(
            "/workspace/files/notes/plan.txt", content=b"step 1: back up", headers=user.headers
        )
        assert put.status_code == 201, put.text
        memory = api.client.post(
            "/memory", json={"content": "the staging server is called heron"}, headers=user.headers
        )
        assert memory.status_code == 201, memory.text
        # A run that keeps writing events while the backup is taken.
        model.enqueue(text=" ".join(["busy"] * 600), token_delay=0.02)
        busy = api.client.post(
            "/runs", json={"goal": "talk a while", "agent": "assistant"}, headers=user.headers
        ).json()["id"]

        def streaming() -> bool:
            events = api.client.get(f"/runs/{busy}/events", headers=user.headers).json()
            return sum(e["type"] == "token" for e in events["data"]) > 20

        _wait(streaming)
        done = subprocess.run(
            [BIN, "backup", str(archive)],
            env=_env(settings.data_dir),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "saved" in done.stdout and "backing up" in done.stdout  # the progress bar
        status = api.client.get(f"/runs/{busy}", headers=user.headers).json()["status"]
        assert status == "running"  # it executed throughout
        api.client.post(f"/runs/{busy}/cancel", headers=user.headers)
    assert oct(archive.stat().st_mode & 0o777) == "0o600"

    restored = tmp_path_factory.mktemp("restored") / "data"
    done = subprocess.run(
        [BIN, "restore", str(archive)], env=_env(restored), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not [p for p in restored.parent.iterdir() if p.name != "data"]  # no leftovers
    with _serve(make_settings(restored), model) as api:
        user = api.login("alice", "correct-horse-1")
        messages = api.client.get(
            f"/conversations/{chat['conversation_id']}/messages", headers=user.headers
        ).json()
        assert [(m["role"], m["content"]) for m in messages["data"]] == [
            ("user", "capital of France?"),
            ("assistant", "Paris is the capital of France."),
        ]
        events = api.client.get(f"/runs/{chat['run_id']}/events", headers=user.headers).json()
        assert events["data"][-1]["type"] == "complete"
        assert events["data"][-1]["data"]["content"] == "Paris is the capital of France."
        found = api.client.get(
            "/memory", params={"query": "what is the staging server called"}, headers=user.headers
        ).json()
        assert found["data"][0]["content"] == "the staging server is called heron"
        file = api.client.get("/workspace/files/notes/plan.txt", headers=user.headers)
        assert file.status_code == 200 and file.content == b"step 1: back up"
        busy_events = api.client.get(f"/runs/{busy}/events", headers=user.headers).json()
        seqs = [e["seq"] for e in busy_events["data"]]
        assert seqs == list(range(1, len(seqs) + 1))  # a consistent prefix of its log


# Archives for the refusals, built without a server.


@pytest.fixture
def good_archive(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    (source / "workspaces" / "1").mkdir(parents=True)
    (source / "workspaces" / "1" / "a.txt").write_text("alpha")
    (source / "secret_key").write_text("k" * 64)
    archive = tmp_path / "good.tar.gz"
    result = CliRunner().invoke(cli, ["backup", str(archive)], env={"DATA_DIR": str(source)})
    assert result.exit_code == 0, result.output
    return archive


def _restore(archive: Path, target: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["restore", str(archive)], env={"DATA_DIR": str(target)})
    return result.exit_code, " ".join(result.output.split())


def _untouched(target: Path) -> None:
    assert not target.exists()
    assert not [p.name for p in target.parent.iterdir() if ".restore-" in p.name]


def test_restore_refuses_a_non_empty_data_dir_and_leaves_it_as_it_was(
    good_archive: Path, tmp_path: Path
) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    code, output = _restore(good_archive, target)
    assert code == 1 and "is not empty" in output
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    code, output = _restore(good_archive, tmp_path / "fresh")
    assert code == 0, output
    assert (tmp_path / "fresh" / "workspaces" / "1" / "a.txt").read_text() == "alpha"


@pytest.mark.parametrize("keep", [0.5, 0.9, -40])
def test_truncated_archive_is_refused_and_leaves_nothing(
    good_archive: Path, tmp_path: Path, keep: float
) -> None:
    data = good_archive.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: int(len(data) * keep)] if keep > 0 else data[: int(keep)])
    target = tmp_path / "target"
    code, output = _restore(cut, target)
    assert code == 1 and "restore failed" in output and "truncated" in output, output
    _untouched(target)


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def test_foreign_or_tampered_archives_are_refused_and_leave_nothing(
    good_archive: Path, tmp_path: Path
) -> None:
    genuine = _members(good_archive)
    header = genuine["orchestrator-backup.json"]
    foreign = {
        "random bytes": (tmp_path / "noise.bin", os.urandom(4096)),
        "a zip file": (tmp_path / "x.zip", b"PK\x03\x04" + os.urandom(200)),
        "another tarball": _tar(tmp_path / "other.tar.gz", {"etc/passwd": b"root:x:0:0"}),
        "a wrong format": _tar(
            tmp_path / "fmt.tar.gz",
            {"orchestrator-backup.json": header.replace(b"orchestrator-backup", b"other-tool")},
        ),
        "a path outside": _tar(
            tmp_path / "escape.tar.gz",
            {"orchestrator-backup.json": header, "data/../../escaped.txt": b"x"},
        ),
        "a changed file": _tar(
            tmp_path / "tampered.tar.gz",
            {**genuine, "data/workspaces/1/a.txt": b"omega"},
        ),
        "an extra file": _tar(
            tmp_path / "extra.tar.gz",
            {
                "orchestrator-backup.json": header,
                "data/planted.txt": b"x",
                **{k: v for k, v in genuine.items() if k != "orchestrator-backup.json"},
            },
        ),
    }
    for what, item in foreign.items():
        path = item if isinstance(item, Path) else item[0]
        if not isinstance(item, Path):
            path.write_bytes(item[1])
        target = tmp_path / f"target-{what.replace(' ', '-')}"
        code, output = _restore(path, target)
        assert code == 1 and "restore failed" in output, (what, output)
        assert any(
            word in output for word in ("not an orchestrator backup", "damaged", "unexpected")
        ), (what, output)
        _untouched(target)
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_backup_of_a_missing_data_dir_fails_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["backup", str(tmp_path / "x.tar.gz")], env={"DATA_DIR": str(tmp_path / "none")}
    )
    assert result.exit_code == 1 and "does not exist" in " ".join(result.output.split())
    assert not (tmp_path / "x.tar.gz").exists()
