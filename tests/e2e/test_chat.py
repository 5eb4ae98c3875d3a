"""Chatting in the browser: streaming, tool cards, approvals, history, isolation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, shot, sign_in

pytestmark = pytest.mark.browser


def send(page: Page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def test_answer_streams_with_thinking_and_a_tool_card(page: Page, site: Site) -> None:
    site.account("alice")
    site.model.token_delay = 0.03
    site.model.enqueue(
        thinking="The user wants a product; the calculator is exact.",
        tool_calls=[("calculate", {"expression": "17*23"})],
    )
    site.model.enqueue(text="**17 x 23 = 391.**\n\n```python\nprint(17 * 23)\n```")
    sign_in(page, site, "alice")

    send(page, "What is 17 x 23?")
    expect(page.get_by_test_id("user-message")).to_have_text("What is 17 x 23?")
    card = page.get_by_test_id("tool-card")
    expect(card).to_contain_text("calculate")
    expect(card).to_have_attribute("data-status", "finished")
    answer = page.get_by_test_id("assistant-message")
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.get_by_test_id("answer")).to_contain_text("17 x 23 = 391.")
    expect(answer.locator("strong")).to_have_text("17 x 23 = 391.")
    expect(page.get_by_test_id("thinking")).to_be_visible()

    card.get_by_role("button").first.click()
    expect(card.get_by_test_id("tool-result")).to_contain_text("391")
    page.get_by_test_id("thinking").locator("summary").click()
    expect(page.get_by_test_id("thinking")).to_contain_text("calculator is exact")
    expect(
        page.locator(".code-block .hljs-built_in, .code-block .hljs-number").first
    ).to_be_visible()
    shot(page, "chat-light")

    page.evaluate("localStorage.setItem('orchestrator.theme', 'dark')")
    page.reload()
    expect(page.get_by_test_id("assistant-message")).to_contain_text("17 x 23 = 391.")
    assert page.evaluate("document.documentElement.classList.contains('dark')")
    shot(page, "chat-dark")


def test_risky_call_waits_for_approval_and_history_survives_a_reload(
    page: Page, site: Site
) -> None:
    site.account("alice")
    site.model.enqueue(tool_calls=[("execute_command", {"command": "echo approved"})])
    site.model.enqueue(text="The command ran.")
    sign_in(page, site, "alice")

    send(page, "Run echo for me")
    approval = page.get_by_test_id("approval-card")
    expect(approval).to_contain_text("execute_command")
    expect(approval).to_contain_text("echo approved")
    shot(page, "approval")
    approval.get_by_role("button", name="Approve").click()
    expect(approval.get_by_test_id("approval-decision")).to_have_text("Approved")
    card = page.get_by_test_id("tool-card")
    # finished with a sandbox; failed (refused) on a machine without bubblewrap
    expect(card).to_have_attribute("data-status", re.compile("finished|failed"))
    expect(page.get_by_test_id("assistant-message")).to_contain_text("The command ran.")
    expect(page.get_by_test_id("assistant-message")).to_have_attribute("data-status", "complete")

    url = page.url
    assert "/c/" in url
    page.reload()
    expect(page.get_by_test_id("user-message")).to_have_text("Run echo for me")
    expect(page.get_by_test_id("assistant-message")).to_contain_text("The command ran.")
    expect(page.get_by_test_id("tool-card")).to_contain_text("execute_command")


def test_denied_call_is_shown_as_denied(page: Page, site: Site) -> None:
    site.account("alice")
    site.model.enqueue(tool_calls=[("execute_command", {"command": "rm -rf /"})])
    site.model.enqueue(text="I did not run it.")
    sign_in(page, site, "alice")
    send(page, "Wipe the disk")
    page.get_by_test_id("approval-card").get_by_role("button", name="Deny").click()
    expect(page.get_by_test_id("tool-card")).to_have_attribute("data-status", "denied")
    expect(page.get_by_test_id("assistant-message")).to_contain_text("I did not run it.")


def test_conversations_are_renamed_searched_and_deleted(page: Page, site: Site) -> None:
    site.account("alice")
    site.model.enqueue(text="Hello!")
    sign_in(page, site, "alice")
    send(page, "Say hello")
    expect(page.get_by_test_id("assistant-message")).to_contain_text("Hello!")
    items = page.get_by_test_id("conversation-list").locator("li")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Say hello")

    items.first.hover()
    page.get_by_role("button", name="Rename Say hello").click()
    title = page.get_by_label("Conversation title")
    title.fill("Greetings")
    title.press("Enter")
    expect(items.first).to_contain_text("Greetings")
    expect(page.get_by_test_id("page-title")).to_have_text("Greetings")

    page.get_by_test_id("new-chat").click()
    site.model.enqueue(text="Sure.")
    send(page, "Another topic")
    expect(page.get_by_test_id("assistant-message")).to_contain_text("Sure.")
    expect(items).to_have_count(2)
    page.get_by_label("Search conversations").fill("greet")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Greetings")
    page.get_by_label("Search conversations").fill("")
    expect(items).to_have_count(2)

    page.get_by_role("button", name="Delete Another topic").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(items).to_have_count(1)
    page.reload()
    expect(items).to_have_count(1)


def test_a_user_cannot_see_another_users_conversations(page: Page, site: Site) -> None:
    alice = site.account("alice")
    response = site.api.client.post(
        "/conversations", json={"title": "Alice's secret plans"}, headers=alice.headers
    )
    assert response.status_code == 201
    secret = response.json()["id"]
    site.account("bob")
    sign_in(page, site, "bob")
    expect(page.get_by_text("No conversations yet.")).to_be_visible()
    page.goto(f"{site.url}/c/{secret}")
    expect(page.get_by_role("alert")).to_contain_text("not found", ignore_case=True)
    expect(page.get_by_text("Alice's secret plans")).to_have_count(0)


def test_model_failure_shows_an_error_on_the_turn(page: Page, site: Site) -> None:
    site.account("alice")
    site.model.default = None  # nothing scripted: the model server answers HTTP 500
    sign_in(page, site, "alice")
    send(page, "Are you there?")
    expect(page.get_by_test_id("run-error")).to_be_visible()
    expect(page.get_by_test_id("assistant-message")).to_have_attribute("data-status", "error")
    # The stored branch comes back (the question gains its id and can be edited); the
    # failed run stores no answer, and its error stays under the question.
    expect(page.get_by_role("button", name="Edit and resend")).to_be_visible()
    expect(page.get_by_test_id("run-error")).to_be_visible()
    shot(page, "model-error")
