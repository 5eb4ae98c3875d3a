"""Schedules and webhooks in the browser: create a schedule, see its next run, follow a
run it started to its page; create a webhook, copy its secret once, and see the run a
signed call started."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from orchestrator.core.config import Settings
from orchestrator.db.models import Schedule
from orchestrator.schedules import sign
from tests.e2e.conftest import Site, shot, sign_in

pytestmark = pytest.mark.browser


def test_schedule_runs_and_webhook_from_the_schedules_page(
    page: Page, start_site: Callable[..., Site], settings: Settings
) -> None:
    site = start_site(schedule_poll_seconds=0.1)
    alice = site.account("alice")
    sign_in(page, site, "alice")
    page.get_by_role("link", name="Schedules").click()
    page.get_by_test_id("add-schedule").click()
    page.get_by_test_id("schedule-name").fill("Weekday report")
    page.get_by_test_id("schedule-cron").fill("0 7 * * 1-5")
    page.get_by_test_id("schedule-timezone").fill("Europe/Paris")
    page.get_by_test_id("schedule-goal").fill("Write the weekday report")
    page.get_by_label("Agent", exact=True).fill("assistant")
    page.get_by_test_id("save-schedule").click()
    item = page.get_by_test_id("schedule")
    expect(item).to_contain_text("Weekday report")
    expect(item.get_by_test_id("schedule-next")).to_contain_text("next run")

    # Its due time comes (moved in the database rather than waiting for 7:00).
    engine = sa.create_engine(f"sqlite:///{settings.data_dir / 'orchestrator.db'}")
    with engine.begin() as db:
        db.execute(sa.update(Schedule).values(next_run_at=datetime.now(UTC) - timedelta(seconds=1)))
    engine.dispose()
    deadline = time.monotonic() + 20
    while not (runs := site.api.client.get("/runs", headers=alice.headers).json()["data"]):
        assert time.monotonic() < deadline, "the schedule never started its run"
        time.sleep(0.1)
    item.get_by_test_id("show-runs").click()
    link = item.get_by_test_id("schedule-runs").get_by_role("link")
    expect(link).to_have_count(1)
    shot(page, "schedules")
    link.click()
    expect(page).to_have_url(f"{site.url}/runs/{runs[0]['id']}")

    page.get_by_role("link", name="Schedules").click()
    page.get_by_test_id("add-trigger").click()
    page.get_by_test_id("trigger-name").fill("Alerts")
    page.get_by_test_id("trigger-template").fill("Triage this alert: {body}")
    page.get_by_test_id("save-trigger").click()
    secret = page.get_by_test_id("secret-value").inner_text()
    assert secret.startswith("whsec_")
    expect(page.get_by_test_id("trigger")).to_contain_text("Alerts")
    url = page.get_by_test_id("trigger").locator("code").inner_text()
    stamp, body = str(int(time.time())), b'{"alert": "disk full"}'
    answer = httpx.post(
        url, content=body, headers={"X-Timestamp": stamp, "X-Signature": sign(secret, stamp, body)}
    )
    assert answer.status_code == 202, answer.text
    page.reload()
    expect(page.get_by_test_id("trigger").get_by_role("link")).to_have_attribute(
        "href", f"/runs/{answer.json()['run_id']}"
    )
    expect(page.get_by_test_id("trigger-secret")).to_have_count(0)  # shown once only
