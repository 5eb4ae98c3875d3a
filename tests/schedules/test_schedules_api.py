"""`/schedules`: owner-only CRUD, clear 422s, a due time starts one run, and a due time
missed while the server was down runs once at start-up (or not at all under `skip`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.core.config import Settings
from tests.conftest import Api
from tests.schedules.conftest import POLL_SECONDS, Server, set_next_run, wait_until

DAILY = {"name": "morning report", "cron": "0 7 * * *", "goal": "write the report"}


def test_schedule_is_created_listed_changed_and_deleted_by_its_owner_only(api: Api) -> None:
    owner, other = api.register(), api.register()
    created = api.client.post(
        "/schedules", json={**DAILY, "timezone": "Europe/Paris"}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["misfire"] == "run_once" and schedule["agent"] == "planner"
    assert schedule["last_run_id"] is None and schedule["enabled"] is True
    due = datetime.fromisoformat(schedule["next_run_at"])
    assert due > datetime.now(UTC) and due.astimezone().minute == 0
    assert due.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris")).hour == 7
    sid = schedule["id"]

    listed = api.client.get("/schedules", headers=owner.headers).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == sid
    assert api.client.get("/schedules", headers=other.headers).json() == {"data": [], "count": 0}
    for method, path, body in [
        ("GET", f"/schedules/{sid}", None),
        ("PATCH", f"/schedules/{sid}", {"name": "mine now"}),
        ("DELETE", f"/schedules/{sid}", None),
        ("GET", f"/schedules/{sid}/runs", None),
    ]:
        answer = api.client.request(method, path, json=body, headers=other.headers)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["detail"] == "schedule not found"
    missing = api.client.get("/schedules/nope", headers=owner.headers)
    assert missing.status_code == 404 and missing.json()["detail"] == "schedule not found"

    hourly = api.client.patch(
        f"/schedules/{sid}", json={"cron": "15 * * * *", "timezone": "UTC"}, headers=owner.headers
    ).json()
    assert hourly["cron"] == "15 * * * *"
    assert datetime.fromisoformat(hourly["next_run_at"]).minute == 15
    assert (
        api.client.get(f"/schedules/{sid}", headers=owner.headers).json()["name"] == DAILY["name"]
    )
    paused = api.client.patch(f"/schedules/{sid}", json={"enabled": False}, headers=owner.headers)
    assert paused.json()["enabled"] is False and paused.json()["next_run_at"] is None
    resumed = api.client.patch(f"/schedules/{sid}", json={"enabled": True}, headers=owner.headers)
    assert datetime.fromisoformat(resumed.json()["next_run_at"]) > datetime.now(UTC)

    assert api.client.delete(f"/schedules/{sid}", headers=owner.headers).status_code == 204
    assert api.client.get(f"/schedules/{sid}", headers=owner.headers).status_code == 404


BAD_TIMETABLES = [
    ({"cron": "0 25 * * *"}, "invalid cron expression '0 25 * * *'"),
    ({"cron": "daily"}, "five fields are expected"),
    ({"timezone": "Europe/Atlantis"}, "unknown time zone 'Europe/Atlantis'"),
    ({"timezone": "../../../etc/passwd"}, "unknown time zone"),
]
MALFORMED = [
    {**DAILY, "misfire": "catch_up_all"},
    {**DAILY, "agent": "Not An Agent"},
    {**DAILY, "goal": ""},
    {**DAILY, "name": " "},
    {**DAILY, "surprise": 1},
    {"name": "x"},
]


def test_bad_cron_or_time_zone_answers_422_with_a_clear_message(api: Api) -> None:
    user = api.register()
    sid = api.client.post("/schedules", json=DAILY, headers=user.headers).json()["id"]
    for change, says in BAD_TIMETABLES:
        refused = api.client.post("/schedules", json={**DAILY, **change}, headers=user.headers)
        assert refused.status_code == 422 and says in refused.json()["detail"], refused.text
        assert refused.json()["code"] in {"invalid_cron", "invalid_timezone"}
        patched = api.client.patch(f"/schedules/{sid}", json=change, headers=user.headers)
        assert patched.status_code == 422 and says in patched.json()["detail"], patched.text
    kept = api.client.get(f"/schedules/{sid}", headers=user.headers).json()
    assert (kept["cron"], kept["timezone"]) == ("0 7 * * *", "UTC")
    for body in MALFORMED:
        refused = api.client.post("/schedules", json=body, headers=user.headers)
        assert refused.status_code == 422, (body, refused.text)
    unknown = api.client.post("/schedules", json={**DAILY, "agent": "nobody"}, headers=user.headers)
    assert unknown.status_code == 404 and "agent" in unknown.json()["detail"]
    assert api.client.get("/schedules", headers=user.headers).json()["count"] == 1


def _runs(api: Api, sid: str, headers: dict[str, str]) -> list[dict]:
    return api.client.get(f"/schedules/{sid}/runs", headers=headers).json()["data"]


def test_due_schedule_starts_one_run_that_its_page_links_to(
    server: Server, fast_settings: Settings
) -> None:
    with server() as api:
        user = api.register()
        body = {**DAILY, "agent": "assistant"}  # its next due time is hours away
        sid = api.client.post("/schedules", json=body, headers=user.headers).json()["id"]
        set_next_run(fast_settings, sid, datetime.now(UTC) - timedelta(seconds=1))
        runs = wait_until(lambda: _runs(api, sid, user.headers))
        time.sleep(POLL_SECONDS * 10)  # ten more ticks: still one run for that due time
        runs = _runs(api, sid, user.headers)
        assert len(runs) == 1 and runs[0]["goal"] == "write the report"
        schedule = api.client.get(f"/schedules/{sid}", headers=user.headers).json()
        assert schedule["last_run_id"] == runs[0]["id"]
        assert datetime.fromisoformat(schedule["next_run_at"]) > datetime.now(UTC)
        done = wait_until(
            lambda: (
                (r := api.client.get(f"/runs/{runs[0]['id']}", headers=user.headers).json())[
                    "status"
                ]
                in {"succeeded", "failed"}
                and r
            )
        )
        assert done["status"] == "succeeded" and done["result"] == "scheduled work done"


@pytest.mark.parametrize(("misfire", "expected_runs"), [("run_once", 1), ("skip", 0)])
def test_due_times_missed_while_down_follow_the_misfire_policy_at_start_up(
    server: Server, fast_settings: Settings, misfire: str, expected_runs: int
) -> None:
    # Daily: no due time of its own comes while the test runs (with */5 one could).
    body = {**DAILY, "agent": "assistant", "misfire": misfire}
    with server() as api:
        user = api.register()
        sid = api.client.post("/schedules", json=body, headers=user.headers).json()["id"]
    # Down for three days: three due times went by.
    set_next_run(fast_settings, sid, datetime.now(UTC) - timedelta(days=3))
    with server() as api:
        user = api.login(user.username, user.password)
        moved = wait_until(
            lambda: (
                (s := api.client.get(f"/schedules/{sid}", headers=user.headers).json())[
                    "next_run_at"
                ]
                and datetime.fromisoformat(s["next_run_at"]) > datetime.now(UTC)
                and s
            )
        )
        time.sleep(POLL_SECONDS * 10)
        runs = _runs(api, sid, user.headers)
        assert len(runs) == expected_runs
        assert moved["last_run_id"] == (runs[0]["id"] if runs else None)
        if runs:
            wait_until(
                lambda: (
                    api.client.get(f"/runs/{runs[0]['id']}", headers=user.headers).json()["status"]
                    == "succeeded"
                )
            )
