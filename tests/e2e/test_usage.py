"""The Usage page (charts of one's own usage against the quota) and the admins' Audit page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, shot, sign_in

pytestmark = pytest.mark.browser


def test_a_user_sees_their_usage_after_a_chat_and_an_admin_the_audit_log(
    page: Page, site: Site
) -> None:
    site.account("root")  # the first account is the admin
    bob = site.account("bob")
    site.model.enqueue(tool_calls=[("calculate", {"expression": "6*7"})])
    site.model.enqueue(text="It is 42.")
    sign_in(page, site, "bob")
    box = page.get_by_label("Message", exact=True)
    box.fill("What is 6 x 7?")
    box.press("Enter")
    expect(page.get_by_test_id("assistant-message")).to_have_attribute("data-status", "complete")

    expect(page.get_by_test_id("nav-audit")).to_have_count(0)  # not an admin
    page.get_by_test_id("nav-usage").click()
    expect(page).to_have_url(re.compile(r"/usage$"))
    chart = page.get_by_test_id("usage-tokens-chart")
    expect(chart.locator("canvas")).to_be_visible()  # chart.js drew it
    expect(page.get_by_test_id("usage-status-chart").locator("canvas")).to_be_visible()
    used = site.api.client.get("/usage/quota", headers=bob.headers).json()
    assert used["tokens_today"] > 0 and used["runs_today"] == 1
    tokens = page.get_by_test_id("stat-tokens-today")
    expect(tokens).to_contain_text(f"{used['tokens_today']:,}")
    expect(page.get_by_test_id("stat-runs-today")).to_contain_text("1")
    expect(page.get_by_test_id("usage-top-users")).to_have_count(0)
    shot(page, "usage-user")
    page.goto(f"{site.url}/audit")  # an admin's page: back to the start
    expect(page).not_to_have_url(re.compile(r"/audit"))

    page.get_by_test_id("current-user").wait_for()
    page.context.clear_cookies()
    page.evaluate("localStorage.clear()")
    sign_in(page, site, "root")
    page.get_by_test_id("nav-audit").click()
    rows = page.get_by_test_id("audit-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("calculate")
    page.get_by_test_id("audit-tool").fill("no_such_tool")
    page.get_by_test_id("audit-apply").click()
    expect(page.get_by_test_id("audit-empty")).to_be_visible()
    page.get_by_test_id("audit-tool").fill("calculate")
    page.get_by_test_id("audit-apply").click()
    expect(rows).to_have_count(1)
    shot(page, "audit-admin")
    page.get_by_test_id("nav-usage").click()
    expect(page.get_by_test_id("usage-user-row").first).to_contain_text("bob")
