"""A program's call through `/v1` that needs approval waits, and is approved in the web app."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from openai import OpenAI
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, shot, sign_in

pytestmark = pytest.mark.browser


def test_a_v1_call_waiting_for_approval_is_approved_in_the_web_app(
    page: Page, start_site: Callable[..., Site]
) -> None:
    site = start_site(approval_risks=["write"])
    alice = site.account("alice")
    note = {"path": "note.txt", "content": "from a script"}
    site.model.enqueue(tool_calls=[("write_file", note)])
    site.model.enqueue(text="Saved the note.")
    client = OpenAI(base_url=f"{site.url}/v1", api_key=alice.token, max_retries=0)
    answer: list[str] = []

    def script() -> None:
        stream = client.chat.completions.create(
            model="agent/assistant",
            messages=[{"role": "user", "content": "Save a note"}],
            stream=True,
        )
        answer.extend(c.choices[0].delta.content or "" for c in stream if c.choices)

    thread = threading.Thread(target=script)
    thread.start()
    sign_in(page, site, "alice")
    page.get_by_test_id("nav-runs").click()
    page.get_by_test_id("run-status-filter").select_option("waiting")
    page.get_by_test_id("run-list").locator("a").first.click()
    approval = page.get_by_test_id("approval-card")
    expect(approval).to_contain_text("write_file")
    shot(page, "v1-approval")
    time.sleep(0.3)
    assert thread.is_alive()  # the script is still waiting
    approval.get_by_role("button", name="Approve").click()
    thread.join(timeout=20)
    assert not thread.is_alive() and "".join(answer) == "Saved the note."
    expect(page.get_by_test_id("run-status")).to_have_attribute("data-status", "succeeded")
