"""The run page lists the workspace changes a run made, shows a text file's diff, and
reverts them with its Revert button."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, shot, sign_in

pytestmark = pytest.mark.browser


def test_run_page_shows_changes_with_a_diff_and_reverts_them(page: Page, site: Site) -> None:
    alice = site.account("alice")
    site.model.enqueue(tool_calls=[("write_file", {"path": "notes.md", "content": "hello\n"})])
    site.model.enqueue(text="written")
    answer = site.api.client.post("/chat", json={"message": "write"}, headers=alice.headers)
    run_id = answer.json()["run_id"]
    sign_in(page, site, "alice")
    page.goto(f"{site.url}/runs/{run_id}")
    changes = page.get_by_test_id("run-changes")
    expect(changes).to_contain_text("notes.md")
    expect(changes).to_contain_text("created")
    page.get_by_test_id("change-item").first.get_by_role("button").first.click()
    expect(page.get_by_test_id("change-diff")).to_contain_text("+hello")
    shot(page, "run-changes")
    page.get_by_test_id("revert-run").click()
    expect(page.get_by_test_id("revert-notice")).to_contain_text("Reverted 1 path")
    expect(changes).to_contain_text("reverted")
    listed = site.api.client.get(f"/runs/{run_id}/changes", headers=alice.headers).json()
    assert listed["data"][0]["reverted"] is True
