"""`/models/evals`: admins start the suite on a model in the background; its scores are
stored, one row per model and suite version, and a second run replaces the first."""

from __future__ import annotations

import time
from typing import Any

from orchestrator.evals import SUITE_VERSION, TASKS
from tests.conftest import Account, Api
from tests.support.scripted_model import Reply, ScriptedModelServer


def _finished(api: Api, user: Account, eval_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        body = api.client.get(f"/models/evals/{eval_id}", headers=user.headers).json()
        if body["status"] != "running" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_an_admin_runs_the_suite_and_everyone_reads_the_scores(
    chat_api: Api, model: ScriptedModelServer
) -> None:
    admin, user = chat_api.register(), chat_api.register()
    # Every task gets the same plain answer: only "no-tool-capital" succeeds.
    model.default = lambda body: Reply(text="Paris.")
    request = {"model": "scripted", "retrieval": False}
    assert (
        chat_api.client.post("/models/evals", json=request, headers=user.headers).status_code == 403
    )
    started = chat_api.client.post("/models/evals", json=request, headers=admin.headers)
    assert started.status_code == 202, started.text
    assert (
        started.json()["status"] == "running" and started.json()["suite_version"] == SUITE_VERSION
    )
    again = chat_api.client.post("/models/evals", json=request, headers=admin.headers)
    assert again.status_code == 409 and again.json()["code"] == "conflict"

    done = _finished(chat_api, user, started.json()["id"])
    assert done["status"] == "succeeded", done
    assert done["tasks"] == len(TASKS) and len(done["results"]) == len(TASKS)
    no_tool = sum(t.category == "no_tool" for t in TASKS)
    assert done["right_tool"] == round(no_tool / len(TASKS), 4)  # answered without a call
    assert done["task_success"] == round(1 / len(TASKS), 4)
    assert done["valid_calls"] == 0.0 and done["right_args"] == 0.0
    assert done["retrieval"] is False and done["repair"] is True and done["tokens"] > 0
    [success] = [r["id"] for r in done["results"] if r["success"]]
    assert success == "no-tool-capital"

    # A second run of the same model and suite replaces the row.
    model.default = lambda body: Reply(text="done")
    second = chat_api.client.post(
        "/models/evals",
        json={"model": "scripted", "retrieval": False, "repair": False},
        headers=admin.headers,
    )
    assert second.status_code == 202 and second.json()["id"] == started.json()["id"]
    redone = _finished(chat_api, admin, second.json()["id"])
    assert redone["status"] == "succeeded" and redone["repair"] is False
    listed = chat_api.client.get("/models/evals", headers=user.headers).json()
    assert listed["count"] == 1
    [row] = listed["data"]
    assert row["model"] == "scripted" and row["task_success"] == round(1 / len(TASKS), 4)
    assert "results" not in row  # the list stays small; the detail has them


def test_bad_requests_are_clear(chat_api: Api, model: ScriptedModelServer) -> None:
    admin = chat_api.register()
    unknown = chat_api.client.post("/models/evals", json={"model": "nope"}, headers=admin.headers)
    assert unknown.status_code == 404 and unknown.json()["code"] == "model_not_found"
    for body in ({}, {"model": ""}, {"model": "scripted", "extra": 1}, {"model": "x" * 201}):
        bad = chat_api.client.post("/models/evals", json=body, headers=admin.headers)
        assert bad.status_code == 422, body
    assert chat_api.client.get("/models/evals/nope", headers=admin.headers).status_code == 404
    assert chat_api.client.get("/models/evals").status_code == 401
    assert chat_api.client.get("/models/evals", headers=admin.headers).json() == {
        "data": [],
        "count": 0,
    }
