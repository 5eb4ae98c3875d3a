"""`orchestrator eval` as an admin runs it: a real process on the server's database, which
evaluates a model of a connection added in the web app (resolved as the server resolves
it, `NAME@CONNECTION` included) and stores its scores where `/models/evals` shows them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from orchestrator.core.config import Settings
from orchestrator.evals import SUITE_VERSION, TASKS
from tests.conftest import TEST_SECRET, Api
from tests.support.scripted_model import Reply, ScriptedModelServer

BIN = Path(sys.executable).parent / "orchestrator"


def _eval(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
    env.update(
        {
            "DATA_DIR": str(settings.data_dir),
            "SECRET_KEY": TEST_SECRET,
            "OLLAMA_URL": "http://127.0.0.1:9",  # nothing listens: only the added connections
            "COLUMNS": "200",
        }
    )
    return subprocess.run(
        [BIN, "eval", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_eval_runs_a_connection_of_the_database_and_stores_its_scores(
    api: Api, settings: Settings, model: ScriptedModelServer
) -> None:
    admin = api.register()
    # The same server twice: "scripted" is then picked on one connection by its id.
    for kind, name, url in (("ollama", "lab", model.url), ("openai", "lab-v1", model.openai_url)):
        made = api.client.post(
            "/models/connections",
            json={"kind": kind, "name": name, "base_url": url},
            headers=admin.headers,
        )
        assert made.status_code == 201, made.text
    model.default = lambda body: Reply(text="Paris.")  # only no-tool-capital succeeds

    result = _eval(settings, "--model", "scripted@lab-v1", "--no-retrieval")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stored as evaluation" in result.stdout
    chats = model.chat_requests
    assert len(chats) == len(TASKS)  # one answer per task, each over the chosen connection
    assert {r.path for r in chats} == {"/v1/chat/completions"}

    listed = api.client.get("/models/evals", headers=admin.headers).json()["data"]
    [row] = listed
    assert row["model"] == "scripted@lab-v1" and row["suite_version"] == SUITE_VERSION
    assert row["status"] == "succeeded" and row["tasks"] == len(TASKS)
    assert row["task_success"] == round(1 / len(TASKS), 4)
    assert row["retrieval"] is False and row["repair"] is True
    detail = api.client.get(f"/models/evals/{row['id']}", headers=admin.headers).json()
    assert [r["id"] for r in detail["results"] if r["success"]] == ["no-tool-capital"]
    # The model list shows the score next to the model it belongs to.
    models = api.client.get("/system/models", headers=admin.headers).json()
    scores = {m["id"]: m["eval_score"] for m in models["data"]}
    assert scores["scripted@lab-v1"] == round(1 / len(TASKS), 4)


def test_eval_of_a_model_no_connection_serves_says_so_and_stores_nothing(
    api: Api, settings: Settings, model: ScriptedModelServer
) -> None:
    admin = api.register()
    made = api.client.post(
        "/models/connections",
        json={"kind": "ollama", "name": "lab", "base_url": model.url},
        headers=admin.headers,
    )
    assert made.status_code == 201, made.text
    result = _eval(settings, "--model", "nope@lab")
    assert result.returncode == 1
    assert "no model named 'nope@lab'" in result.stdout and "scripted" in result.stdout
    # A partial run is printed, not stored: its score would not compare with a whole run.
    model.default = lambda body: Reply(text="Paris.")
    partial = _eval(settings, "--model", "scripted", "--no-retrieval", "--task", "no-tool-capital")
    assert partial.returncode == 0, partial.stdout + partial.stderr
    assert "not stored" in partial.stdout
    assert api.client.get("/models/evals", headers=admin.headers).json()["data"] == []
