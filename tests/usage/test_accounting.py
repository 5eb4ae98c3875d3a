"""Every model call is accounted against its user, model, agent and run, with the event
that reports it; `GET /usage` groups the figures, each user seeing only their own."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from datetime import date, timedelta

import openai
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.core.config import Settings
from orchestrator.db.models import ModelUsage, Run, RunEvent, User
from orchestrator.db.session import create_engine, create_session_factory
from orchestrator.engine.events import CompleteData, StatusData, TokenData, UsageData
from orchestrator.runs.bus import EventBus
from orchestrator.runs.group_commit import EventWriteFailed
from orchestrator.runs.log import RunEventLog, RunWriter
from tests.conftest import Account, Api
from tests.support.api_keys import api_key
from tests.support.scripted_model import ScriptedModelServer


def _rows(settings: Settings) -> list[tuple[str, int, int, str, str, int, int]]:
    with sqlite3.connect(settings.data_dir / "orchestrator.db") as db:
        return db.execute(
            "SELECT run_id, seq, user_id, agent, model, tokens_in, tokens_out FROM model_usage"
        ).fetchall()


def _usage_events(api: Api, user: Account, run_id: str) -> list[dict]:
    events = api.client.get(f"/runs/{run_id}/events", headers=user.headers).json()["data"]
    return [e for e in events if e["type"] == "usage"]


def _wait(api: Api, user: Account, run_id: str) -> dict:
    deadline = time.monotonic() + 20
    while (run := api.client.get(f"/runs/{run_id}", headers=user.headers).json())["status"] in {
        "queued",
        "running",
    }:
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    return run


def test_each_model_call_of_a_chat_is_an_event_and_a_row_with_the_same_seq(
    usage_api: Api, settings: Settings, model: ScriptedModelServer
) -> None:
    usage_api.register()
    user = usage_api.register()
    model.enqueue(tool_calls=[("add", {"a": 2, "b": 3})])
    model.enqueue(text="The sum is 5")
    answer = usage_api.client.post("/chat", json={"message": "add 2 and 3"}, headers=user.headers)
    assert answer.status_code == 200, answer.text
    run_id = answer.json()["run_id"]
    events = _usage_events(usage_api, user, run_id)
    assert len(events) == 2  # one per model call: the tool call, then the answer
    assert all(e["data"]["model"] == "scripted" and e["data"]["seconds"] > 0 for e in events)
    assert all(e["data"]["completion_tokens"] > 0 for e in events)
    rows = sorted(r for r in _rows(settings) if r[0] == run_id)
    assert [(r[1], r[5], r[6]) for r in rows] == [
        (e["seq"], e["data"]["prompt_tokens"], e["data"]["completion_tokens"]) for e in events
    ]
    assert {(r[2], r[3], r[4]) for r in rows} == {(user.id, "assistant", "scripted")}
    complete = answer.json()
    assert complete["status"] == "succeeded"


def test_usage_of_workflows_delegations_and_v1_completions_is_counted_per_agent(
    usage_api: Api, settings: Settings, model: ScriptedModelServer
) -> None:
    usage_api.register()
    user = usage_api.register()
    # A workflow: structured phases and the steps' turns.
    for reply in (
        {"goal": "say hi", "acceptance_criteria": ["hi is said"]},
        {"steps": [{"title": "Greet", "instruction": "say hi"}]},
    ):
        model.enqueue(text=json.dumps(reply))
    model.enqueue(text="hi")
    verdict = {"criterion": "hi is said", "met": True, "quote": "hi"}
    model.enqueue(
        text=json.dumps({"passed": True, "criteria": [verdict], "failed_steps": [], "notes": ""})
    )
    run = usage_api.client.post("/runs", json={"goal": "say hi"}, headers=user.headers).json()
    assert _wait(usage_api, user, run["id"])["status"] == "succeeded"
    assert len(_usage_events(usage_api, user, run["id"])) == 4  # spec, plan, step, verify
    # A /v1 completion: one agent turn through the same runs.
    client = openai.OpenAI(
        base_url=f"{usage_api.base_url}/v1", api_key=api_key(usage_api, user), max_retries=0
    )
    model.enqueue(text="pong")
    completion = client.chat.completions.create(
        model="agent/assistant", messages=[{"role": "user", "content": "ping"}]
    )
    assert completion.choices[0].message.content == "pong"
    report = usage_api.client.get("/usage?group_by=agent", headers=user.headers).json()
    by_agent = {r["agent"]: r for r in report["data"]}
    workflow_agent = run["agent"]
    assert by_agent[workflow_agent]["model_calls"] == 4
    assert by_agent[workflow_agent]["runs"] == 1
    assert by_agent["assistant"]["model_calls"] == 1
    rows = _rows(settings)
    assert report["totals"]["tokens_in"] == sum(r[5] for r in rows)
    assert report["totals"]["tokens_out"] == sum(r[6] for r in rows)
    assert report["totals"]["model_calls"] == len(rows) == 5


def test_usage_is_the_callers_own_and_an_admin_sees_everyones(
    usage_api: Api, model: ScriptedModelServer
) -> None:
    admin, alice, bob = usage_api.register(), usage_api.register(), usage_api.register()
    for who, text in ((alice, "one two three"), (bob, "four"), (bob, "five")):
        model.enqueue(tool_calls=[("add", {"a": 1, "b": 1})]) if who is alice else None
        model.enqueue(text=text)
        usage_api.client.post("/chat", json={"message": "hi"}, headers=who.headers)
    mine = usage_api.client.get("/usage?group_by=user", headers=alice.headers).json()
    assert [r["user_id"] for r in mine["data"]] == [alice.id]  # never bob's
    assert mine["data"][0]["tool_calls"] == 1 and mine["data"][0]["runs"] == 1
    asked = usage_api.client.get(f"/usage?user_id={bob.id}", headers=alice.headers).json()
    assert asked["totals"]["runs"] == 1  # the user_id of another is ignored: still alice's
    everyone = usage_api.client.get("/usage?group_by=user", headers=admin.headers).json()
    rows = {r["username"]: r for r in everyone["data"]}
    assert rows[bob.username]["runs"] == 2 and rows[bob.username]["model_calls"] == 2
    assert rows[alice.username]["model_calls"] == 2
    today = date.today().isoformat()
    by_day = usage_api.client.get("/usage?group_by=day,model", headers=admin.headers).json()
    assert [(r["day"], r["model"]) for r in by_day["data"]] == [(today, "scripted")]
    assert by_day["data"][0]["model_calls"] == 4
    one = usage_api.client.get(f"/usage?user_id={bob.id}", headers=admin.headers).json()
    assert one["totals"]["runs"] == 2
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    empty = usage_api.client.get(f"/usage?from={yesterday}&to={yesterday}", headers=admin.headers)
    assert empty.json()["totals"]["model_calls"] == 0


def test_runs_by_status_are_the_callers_own_and_an_admin_sees_everyones(
    usage_api: Api, model: ScriptedModelServer
) -> None:
    admin, alice, bob = usage_api.register(), usage_api.register(), usage_api.register()
    model.enqueue(text="fine")
    usage_api.client.post("/chat", json={"message": "hi"}, headers=alice.headers)
    model.enqueue(error=(400, "the model refuses"))
    usage_api.client.post("/chat", json={"message": "again"}, headers=alice.headers)
    model.enqueue(text="bob's")
    usage_api.client.post("/chat", json={"message": "hi"}, headers=bob.headers)
    statuses = [
        _wait(usage_api, alice, r["id"])["status"]
        for r in usage_api.client.get("/runs?limit=50", headers=alice.headers).json()["data"]
    ]
    assert len(statuses) == 2 and "succeeded" in statuses and len(set(statuses)) == 2
    mine = usage_api.client.get("/usage/runs", headers=alice.headers).json()
    assert {c["status"]: c["runs"] for c in mine["data"]} == {s: 1 for s in statuses}
    assert mine["total"] == 2 and mine["count"] == 2 and mine["to"] == date.today().isoformat()
    asked = usage_api.client.get(f"/usage/runs?user_id={bob.id}", headers=alice.headers).json()
    assert asked["total"] == 2  # another user's id is ignored: still alice's own
    everyone = usage_api.client.get("/usage/runs", headers=admin.headers).json()
    assert everyone["total"] == 3
    assert {c["status"]: c["runs"] for c in everyone["data"]}["succeeded"] == 2
    only_bob = usage_api.client.get(f"/usage/runs?user_id={bob.id}", headers=admin.headers)
    assert only_bob.json()["data"] == [{"status": "succeeded", "runs": 1}]
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    empty = usage_api.client.get(
        f"/usage/runs?from={yesterday}&to={yesterday}", headers=admin.headers
    )
    assert empty.json() == {"from": yesterday, "to": yesterday, "data": [], "count": 0, "total": 0}
    for query in ("from=2026-02-01&to=2026-01-01", "from=2020-01-01&to=2026-01-01", "user_id=0"):
        refused = usage_api.client.get(f"/usage/runs?{query}", headers=alice.headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "invalid_input"
    assert usage_api.client.get("/usage/runs").status_code == 401


@pytest.mark.parametrize(
    "query",
    [
        "group_by=week",
        "group_by=day,day",
        "from=2026-02-01&to=2026-01-01",
        "from=2020-01-01&to=2026-01-01",
        "from=yesterday",
        "user_id=-1",
    ],
)
def test_bad_usage_queries_are_422(usage_api: Api, query: str) -> None:
    user = usage_api.register()
    response = usage_api.client.get(f"/usage?{query}", headers=user.headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_input"


def test_usage_needs_a_login(usage_api: Api) -> None:
    assert usage_api.client.get("/usage").status_code == 401


def test_a_usage_row_is_written_with_its_event_or_not_at_all(settings: Settings) -> None:
    """The writer stores the `usage` event and its row in one transaction: when the event
    cannot be written (its seq is taken), the row is not written either."""

    async def scenario() -> tuple[int, int]:
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        try:
            async with sessions() as db:
                db.add(User(id=1, username="owner", password_hash="x"))
                await db.flush()
                db.add(Run(id="r1", user_id=1, goal="g", agent="assistant"))
                await db.flush()
                db.add(RunEvent(run_id="r1", seq=1, type="token", data={"text": "x"}))
                await db.commit()
            log = RunEventLog(sessions, EventBus())
            writer = await log.open("r1")
            writer.last_seq = 0  # as a writer that lost track would: seq 1 is taken
            # Deferred: written with the run's next write (here, the flush that follows).
            await writer.emit(UsageData(model="m", prompt_tokens=5, completion_tokens=7))
            with pytest.raises(EventWriteFailed) as failed:
                await writer.flush()
            assert isinstance(failed.value.__cause__, IntegrityError)
            writer.pending.clear()
            writer.held.clear()
            writer.last_seq = 1
            await writer.emit(UsageData(model="m", prompt_tokens=5, completion_tokens=7))
            await writer.close()
            async with sessions() as db:
                rows = list(await db.scalars(select(ModelUsage)))
                usage_events = list(
                    await db.scalars(select(RunEvent).where(RunEvent.type == "usage"))
                )
            return len(rows), len(usage_events)
        finally:
            await engine.dispose()

    assert asyncio.run(scenario()) == (1, 1)


async def _open_run(sessions: async_sessionmaker[AsyncSession]) -> tuple[RunEventLog, RunWriter]:
    """Run r1 of user 1, and its writer on a log whose deltas wait a minute to be written."""
    async with sessions() as db:
        db.add(User(id=1, username="owner", password_hash="x"))
        await db.flush()
        db.add(Run(id="r1", user_id=1, goal="g", agent="assistant"))
        await db.commit()
    log = RunEventLog(sessions, EventBus(), flush_interval=60)
    return log, await log.open("r1")


def test_a_usage_event_is_written_with_the_next_event_and_published_before_it(
    settings: Settings,
) -> None:
    """A model call's usage has no commit of its own: it goes into the transaction of the
    run's next write, and a follower still gets every event in seq order."""

    async def scenario() -> tuple[list[int], list[tuple[int, str]], int]:
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        try:
            log, writer = await _open_run(sessions)
            seen: list[int] = []

            async def follow() -> None:
                async for event in log.follow("r1"):
                    seen.append(event.seq)
                    if event.type == "complete":
                        return

            follower = asyncio.create_task(follow())
            await asyncio.sleep(0.05)
            await writer.emit(UsageData(model="m", prompt_tokens=5, completion_tokens=7))
            async with sessions() as db:
                early = await db.scalar(select(func.count()).select_from(ModelUsage))
            await writer.emit(TokenData(text="hi"))  # a delta after it: the usage goes first
            await writer.emit(UsageData(model="m", prompt_tokens=1, completion_tokens=1))
            await writer.emit(CompleteData(status="succeeded", content="hi", run_id="r1"))
            await asyncio.wait_for(follower, 10)
            async with sessions() as db:
                stored = [
                    (e.seq, e.type)
                    for e in await db.scalars(select(RunEvent).order_by(RunEvent.seq))
                ]
            return seen, stored, early or 0
        finally:
            await engine.dispose()

    seen, stored, early = asyncio.run(scenario())
    assert early == 0  # not written on its own
    assert stored == [(1, "usage"), (2, "token"), (3, "usage"), (4, "complete")]
    assert seen == [1, 2, 3, 4]


def test_the_timer_of_a_written_usage_event_is_stopped(settings: Settings) -> None:
    """A usage event starts a flush timer (written soon even if nothing follows); once the
    next event has written it, that timer is stopped, so that it cannot cut the batch of
    the next call's deltas short (each batch waits its own `flush_interval`)."""

    async def scenario() -> tuple[bool, bool, bool]:
        engine = create_engine(settings)
        sessions = create_session_factory(engine)
        try:
            _, writer = await _open_run(sessions)
            await writer.emit(UsageData(model="m", prompt_tokens=5, completion_tokens=7))
            armed = writer._flush_task is not None
            await writer.emit(StatusData(status="running"))  # written with the usage
            stopped = writer._flush_task is None
            await writer.emit(TokenData(text="hi"))  # a new batch: its own timer
            rearmed = writer._flush_task is not None
            await writer.close()
            return armed, stopped, rearmed
        finally:
            await engine.dispose()

    assert asyncio.run(scenario()) == (True, True, True)
