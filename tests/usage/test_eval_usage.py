"""Evaluation runs are accounted like runs: each model call of the suite is a
`model_usage` row against the admin who started it, shown on `/usage` (agent `(eval)`),
and counts against their token quota: spent before, the start is 429 with `reset_at`;
reached during the suite, it stops as failed with the reason and the tasks that ended."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.core.config import Settings
from orchestrator.evals import TASKS
from orchestrator.usage import EVAL_AGENT
from tests.conftest import Account, Api
from tests.support.scripted_model import Reply, ScriptedModelServer

REQUEST = {"model": "scripted", "retrieval": False}


def _admins(api: Api) -> tuple[Account, Account]:
    first, second = api.register(), api.register()
    promoted = api.client.patch(
        f"/users/{second.id}", json={"role": "admin"}, headers=first.headers
    )
    assert promoted.status_code == 200, promoted.text
    return first, api.login(second.username, second.password)  # a role change ends sessions


def _evaluate(api: Api, admin: Account) -> dict[str, Any]:
    started = api.client.post("/models/evals", json=REQUEST, headers=admin.headers)
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 60
    while (
        body := api.client.get(f"/models/evals/{started.json()['id']}", headers=admin.headers)
    ).json()["status"] == "running":
        assert time.monotonic() < deadline, body.text
        time.sleep(0.05)
    return dict(body.json())


def _usage(api: Api, user: Account, **params: str) -> dict[str, Any]:
    """`user`'s own figures (admins see everyone's without `user_id`)."""
    params.setdefault("user_id", str(user.id))
    response = api.client.get("/usage", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _rows(settings: Settings) -> list[tuple[Any, ...]]:
    with sqlite3.connect(settings.data_dir / "orchestrator.db") as db:
        return db.execute(
            "SELECT user_id, run_id, seq, eval_id, agent, model, tokens_in, tokens_out "
            "FROM model_usage"
        ).fetchall()


def test_an_evaluation_is_accounted_against_the_admin_who_started_it(
    usage_api: Api, settings: Settings, model: ScriptedModelServer
) -> None:
    first, second = _admins(usage_api)
    model.default = lambda body: Reply(text="Paris.")  # one call per task
    done = _evaluate(usage_api, second)
    assert done["status"] == "succeeded" and done["tasks"] == len(TASKS)

    rows = _rows(settings)
    assert len(rows) == len(TASKS)
    assert {r[:6] for r in rows} == {(second.id, None, None, done["id"], EVAL_AGENT, "scripted")}
    assert sum(r[6] + r[7] for r in rows) == done["tokens"]  # the suite's own count

    own = _usage(usage_api, second, group_by="agent")
    [row] = own["data"]
    assert row["agent"] == EVAL_AGENT and row["model_calls"] == len(TASKS)
    assert row["tokens_in"] + row["tokens_out"] == done["tokens"] and row["model_seconds"] > 0
    assert row["runs"] == 0  # an evaluation is not a run
    assert _usage(usage_api, first)["totals"]["model_calls"] == 0  # not the other admin's
    everyone = usage_api.client.get("/usage", params={"group_by": "user"}, headers=first.headers)
    by_user = {r["user_id"]: r for r in everyone.json()["data"]}
    assert set(by_user) == {second.id} and by_user[second.id]["username"] == second.username
    quota = usage_api.client.get("/usage/quota", headers=second.headers).json()
    assert quota["tokens_today"] == done["tokens"]


def test_the_token_quota_stops_an_evaluation_and_refuses_the_next(
    usage_api: Api, settings: Settings, model: ScriptedModelServer
) -> None:
    first, second = _admins(usage_api)
    model.default = lambda body: Reply(text="Paris.")
    measured = _evaluate(usage_api, first)  # the first admin has no quota
    per_task = [r["tokens"] for r in measured["results"]]
    limit = sum(per_task[:3]) + 1  # reached by the fourth task's call
    quota = usage_api.client.put(
        f"/users/{second.id}/quota", json={"tokens_per_day": limit}, headers=first.headers
    )
    assert quota.status_code == 200, quota.text

    stopped = _evaluate(usage_api, second)
    assert stopped["status"] == "failed", stopped
    assert stopped["error"].startswith("quota_exceeded: the token quota is used up")
    assert stopped["tasks"] == 3 and [r["id"] for r in stopped["results"]] == [
        t.id for t in TASKS[:3]
    ]
    used = _usage(usage_api, second)["totals"]
    assert used["model_calls"] == 4  # the call that reached the quota is counted too
    assert limit <= used["tokens_in"] + used["tokens_out"] == sum(per_task[:4])

    again = usage_api.client.post("/models/evals", json=REQUEST, headers=second.headers)
    assert again.status_code == 429, again.text
    body = again.json()
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert body["code"] == "quota_exceeded"
    assert body["reset_at"].startswith((midnight + timedelta(days=1)).date().isoformat())
    assert _usage(usage_api, second)["totals"]["model_calls"] == 4  # nothing ran
    listed = usage_api.client.get("/models/evals", headers=first.headers).json()["data"]
    assert [r["status"] for r in listed] == ["failed"]  # the refusal left the row as it was

    # The other admin is not held back by it, and their calls stay theirs.
    assert _evaluate(usage_api, first)["status"] == "succeeded"
    assert [r[0] for r in _rows(settings)].count(second.id) == 4
