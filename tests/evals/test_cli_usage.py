"""`orchestrator eval` accounts its model calls like the API's evaluations: against
`--user` (default: the first admin), in `model_usage` with the agent `(eval)`, and stops
on a token quota that is used up."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.usage import EVAL_AGENT
from tests.support.scripted_model import Reply, ScriptedModelServer

BIN = Path(sys.executable).parent / "orchestrator"
SRC = Path(__file__).resolve().parents[2] / "src"  # this tree's code, not the installed one


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(models=["scripted"]) as running:
        running.default = lambda body: Reply(text="It is -3 C with snow in Oslo.")
        yield running


def _run(data: Path, server: ScriptedModelServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "DATA_DIR": str(data),
        "OLLAMA_URL": server.url,
        "TOOL_RETRIEVAL_THRESHOLD": "1000",
        "PYTHONPATH": str(SRC),
    }
    return subprocess.run(
        [BIN, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _eval(data: Path, server: ScriptedModelServer, *extra: str) -> subprocess.CompletedProcess[str]:
    return _run(
        data,
        server,
        "eval",
        "--model",
        "scripted",
        "--task",
        "weather-oslo",
        "--no-retrieval",
        *extra,
    )


def _usage(data: Path) -> list[tuple[str, str, str, int]]:
    with sqlite3.connect(data / "orchestrator.db") as db:
        return db.execute(
            "SELECT u.username, m.agent, m.model, m.tokens_in + m.tokens_out "
            "FROM model_usage m JOIN users u ON u.id = m.user_id ORDER BY m.id"
        ).fetchall()


def test_the_command_accounts_to_the_named_user_or_the_first_admin(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    for name, flags in (("ops", ["--admin"]), ("ana", [])):
        made = _run(tmp_path, server, "user", "create", name, *flags, "--password", "password-1")
        assert made.returncode == 0, made.stdout + made.stderr

    first = _eval(tmp_path, server)
    assert first.returncode == 0, first.stdout + first.stderr
    assert [(u, a, m) for u, a, m, _ in _usage(tmp_path)] == [("ops", EVAL_AGENT, "scripted")]
    named = _eval(tmp_path, server, "--user", "ana")
    assert named.returncode == 0, named.stdout + named.stderr
    assert [u for u, *_ in _usage(tmp_path)] == ["ops", "ana"]
    assert all(tokens > 0 for *_, tokens in _usage(tmp_path))

    unknown = _eval(tmp_path, server, "--user", "nobody")
    assert unknown.returncode == 1 and "no active user 'nobody'" in unknown.stdout

    with sqlite3.connect(tmp_path / "orchestrator.db") as db:  # ana's quota: used up now
        ana = db.execute("SELECT id FROM users WHERE username = 'ana'").fetchone()[0]
        db.execute(
            "INSERT INTO user_quotas (user_id, tokens_per_day, updated_at) VALUES (?, 1, ?)",
            (ana, datetime.now(UTC).isoformat()),
        )
    spent = _eval(tmp_path, server, "--user", "ana")
    assert spent.returncode == 1, spent.stdout + spent.stderr
    assert "the token quota is used up" in spent.stdout
    assert len(_usage(tmp_path)) == 2  # refused before any call


def test_without_any_account_the_command_still_runs_and_says_so(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    done = _eval(tmp_path, server)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not accounted" in done.stdout and _usage(tmp_path) == []
