"""The `orchestrator` command as a user runs it: real processes, real ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import free_port

BIN = Path(sys.executable).parent / "orchestrator"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL"}}
    env.update({"DATA_DIR": str(data_dir), "OLLAMA_URL": "http://127.0.0.1:9", **extra})
    return env


@contextmanager
def running_server(data_dir: Path) -> Iterator[httpx.Client]:
    port = free_port()
    proc = subprocess.Popen(
        [BIN, "serve", "--port", str(port)],
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=10)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.get("/system/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield client
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=15)


def test_data_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    with running_server(tmp_path) as client:
        client.post("/auth/register", json={"username": "keeper", "password": "password-1"})
        token = client.post(
            "/auth/login", json={"username": "keeper", "password": "password-1"}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        cid = client.post("/conversations", json={"title": "kept"}, headers=headers).json()["id"]
    with running_server(tmp_path) as client:
        assert client.get("/auth/me", headers=headers).json()["username"] == "keeper"
        assert client.get(f"/conversations/{cid}", headers=headers).json()["title"] == "kept"
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_user_create_makes_an_active_admin(tmp_path: Path) -> None:
    result = subprocess.run(
        [BIN, "user", "create", "ops", "--admin", "--password", "password-1"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "created admin 'ops'" in result.stdout
    again = subprocess.run(
        [BIN, "user", "create", "ops", "--password", "password-1"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "already exists" in again.stdout


def test_user_create_rejects_bad_names(tmp_path: Path) -> None:
    result = subprocess.run(
        [BIN, "user", "create", "a b", "--password", "password-1"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "username" in result.stdout


def test_weak_secret_key_stops_start_with_a_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [BIN, "migrate"],
        env=_env(tmp_path, SECRET_KEY="changethis"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "SECRET_KEY is too weak" in result.stdout


def test_doctor_reports_each_part(tmp_path: Path) -> None:
    subprocess.run(
        [BIN, "migrate"], env=_env(tmp_path), check=True, capture_output=True, timeout=60
    )
    result = subprocess.run(
        [BIN, "doctor"], env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout
    for part in ("database", "ollama", "embedded model", "redis", "sandbox", "toolchains"):
        assert part in result.stdout
    assert "not reachable" in result.stdout  # nothing listens on the Ollama port here


def test_run_streams_a_task_in_the_terminal(tmp_path: Path, model: ScriptedModelServer) -> None:
    env = _env(tmp_path, OLLAMA_URL=model.url)
    subprocess.run(
        [BIN, "user", "create", "ops", "--admin", "--password", "password-1"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    model.enqueue(thinking="Adding them up", tool_calls=[("calculate", {"expression": "6*7"})])
    model.enqueue(text="The answer is 42.")
    result = subprocess.run(
        [BIN, "run", "What is 6*7?", "--agent", "analyst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Adding them up" in out and "calculate" in out and "finished" in out
    assert "The answer is 42." in out and "succeeded" in out


def test_run_without_an_account_says_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [BIN, "run", "hi"], env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "orchestrator user create" in result.stdout


def test_an_unreadable_http_allowlist_stops_start_with_a_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [BIN, "migrate"],
        env=_env(tmp_path, HTTP_ALLOWLIST="intranet:8080,http://wiki.local"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "HTTP_ALLOWLIST entry 'http://wiki.local'" in result.stdout


def _imported(importtime: str) -> set[str]:
    """The modules a `python -X importtime` run imported, from its stderr."""
    lines = (line.split("|")[-1].strip() for line in importtime.splitlines())
    return {name for name in lines if name and name != "imported package"}


def test_serve_starts_without_typer_and_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    """`serve` with its own options skips the command-line library (40 ms of every start),
    and still says what is wrong: here, several processes without Redis."""
    env = {k: v for k, v in _env(tmp_path).items() if k != "REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "orchestrator", "serve", "--workers=2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--workers above 1 needs REDIS_URL" in result.stdout
    imported = _imported(result.stderr)
    assert "orchestrator.core.config" in imported  # the listing is read right
    assert not {"typer", "rich", "orchestrator.cli._commands"} & imported


def test_serve_help_and_bad_options_are_typers(tmp_path: Path) -> None:
    shown = subprocess.run(
        [BIN, "serve", "--help"], env=_env(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and "--workers" in shown.stdout and "REDIS_URL" in shown.stdout
    for bad in (["--workers", "0"], ["--port", "eighty"], ["--prot", "8001"]):
        refused = subprocess.run(
            [BIN, "serve", *bad], env=_env(tmp_path), capture_output=True, text=True, timeout=60
        )
        assert refused.returncode == 2, (bad, refused.stdout)
        assert "Usage:" in refused.stdout + refused.stderr
