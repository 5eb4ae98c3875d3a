"""The chat people expect, in the browser: edit and regenerate as new versions with
arrows between them, search with the matched words highlighted, export and import,
and thumbs up/down that admins see on the Dashboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, shot, sign_in

pytestmark = pytest.mark.browser
NOW = "2026-11-20T10:00:00Z"


def send(page: Page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")


def answered(page: Page, text: str) -> None:
    """The last answer says `text`, is stored, and offers its actions."""
    answer = page.get_by_test_id("assistant-message").last
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.get_by_test_id("answer")).to_have_text(text)
    expect(answer.get_by_test_id("answer-actions")).to_be_visible()


def test_edit_and_regenerate_make_versions_with_arrows_between_them(page: Page, site: Site) -> None:
    site.account("alice")
    sign_in(page, site, "alice")
    site.model.enqueue(text="Apple")
    send(page, "Name a fruit")
    answered(page, "Apple")

    site.model.enqueue(text="Leek")
    question = page.get_by_test_id("user-message")
    question.hover()
    question.get_by_test_id("edit-message").click()
    page.get_by_test_id("edit-input").fill("Name a vegetable")
    page.get_by_test_id("edit-send").click()
    answered(page, "Leek")
    expect(page.get_by_test_id("user-text")).to_have_text("Name a vegetable")
    expect(question.get_by_test_id("branch-position")).to_have_text("2 / 2")
    # The model was sent the new version only.
    sent = [m["content"] for m in site.model.chat_requests[-1].messages if m["role"] == "user"]
    assert sent == ["Name a vegetable"]
    shot(page, "chat-edited-version")

    question.get_by_test_id("branch-previous").click()
    expect(page.get_by_test_id("user-text")).to_have_text("Name a fruit")
    expect(page.get_by_test_id("answer")).to_have_text("Apple")
    expect(question.get_by_test_id("branch-position")).to_have_text("1 / 2")

    site.model.enqueue(text="Banana")
    page.get_by_test_id("regenerate").click()
    answered(page, "Banana")
    expect(page.get_by_test_id("user-text")).to_have_text("Name a fruit")
    expect(question.get_by_test_id("branch-position")).to_have_text("3 / 3")
    expect(page.get_by_test_id("assistant-message")).to_have_count(1)

    # The versions survive a reload, and the arrows walk them both ways.
    page.reload()
    expect(question.get_by_test_id("branch-position")).to_have_text("3 / 3")
    question.get_by_test_id("branch-previous").click()
    expect(question.get_by_test_id("branch-position")).to_have_text("2 / 3")
    expect(page.get_by_test_id("answer")).to_have_text("Leek")
    question.get_by_test_id("branch-next").click()
    expect(page.get_by_test_id("answer")).to_have_text("Banana")
    shot(page, "chat-versions")


def _import(site: Site, token: str, title: str, *texts: str) -> str:
    messages = [
        {
            "id": i + 1,
            "parent_id": i or None,
            "role": "user" if i % 2 == 0 else "assistant",
            "content": text,
            "created_at": NOW,
        }
        for i, text in enumerate(texts)
    ]
    response = site.api.client.post(
        "/conversations/import",
        json={"title": title, "created_at": NOW, "messages": messages},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_search_highlights_the_matched_words_accents_aside(page: Page, site: Site) -> None:
    alice = site.account("alice")
    found = _import(site, alice.token, "Job hunt", "Please read my résumé", "It reads well")
    _import(site, alice.token, "Weather", "Rain tomorrow?", "Yes")
    sign_in(page, site, "alice")
    page.get_by_test_id("conversation-search").fill("resume")
    items = page.get_by_test_id("conversation-list").locator("li")
    expect(items).to_have_count(1)
    item = page.get_by_test_id(f"conversation-{found}")
    expect(item.get_by_test_id("search-snippet")).to_have_text("Please read my résumé")
    expect(item.locator("mark")).to_have_text("résumé")
    shot(page, "search-highlight")
    item.get_by_role("link").click()
    expect(page.get_by_test_id("user-text")).to_have_text("Please read my résumé")
    page.get_by_test_id("conversation-search").fill("")
    expect(items).to_have_count(2)


def test_export_downloads_both_formats_and_an_import_brings_the_tree_back(
    page: Page, site: Site, tmp_path: Path
) -> None:
    alice = site.account("alice")
    cid = _import(site, alice.token, "Trip ideas", "Where to in June?", "Lisbon")
    sign_in(page, site, "alice")
    page.goto(f"{site.url}/c/{cid}")
    expect(page.get_by_test_id("answer")).to_have_text("Lisbon")

    page.get_by_test_id("export-menu").locator("summary").click()
    with page.expect_download() as markdown:
        page.get_by_test_id("export-markdown").click()
    text = Path(markdown.value.path()).read_text()
    assert text.startswith("# Trip ideas") and "## You\n\nWhere to in June?" in text
    assert markdown.value.suggested_filename == "Trip-ideas.md"

    with page.expect_download() as exported:
        page.get_by_test_id("export-json").click()
    saved = tmp_path / "trip.json"
    exported.value.save_as(saved)
    assert [m["content"] for m in json.loads(saved.read_text())["messages"]] == [
        "Where to in June?",
        "Lisbon",
    ]

    page.get_by_test_id("import-file").set_input_files(str(saved))
    expect(page).not_to_have_url(f"{site.url}/c/{cid}")
    expect(page.get_by_test_id("answer")).to_have_text("Lisbon")
    expect(page.get_by_test_id("conversation-list").locator("li")).to_have_count(2)

    broken = tmp_path / "broken.json"
    broken.write_text('{"title": "x", "messages": [{"id": 1, "parent_id": 7}]}')
    page.get_by_test_id("import-file").set_input_files(str(broken))
    expect(page.get_by_test_id("import-error")).to_contain_text("not a conversation export")


def test_thumbs_with_a_comment_and_the_admins_dashboard(page: Page, site: Site) -> None:
    site.account("admin")  # the first account is the admin
    sign_in(page, site, "admin")
    site.model.enqueue(text="Two plus two is five")
    send(page, "What is 2 + 2?")
    answered(page, "Two plus two is five")
    answer = page.get_by_test_id("assistant-message")
    answer.get_by_test_id("thumbs-down").click()
    answer.get_by_test_id("feedback-input").fill("wrong sum")
    answer.get_by_test_id("feedback-send").click()
    expect(answer.get_by_test_id("feedback-comment")).to_contain_text("wrong sum")
    page.reload()
    expect(answer.get_by_test_id("thumbs-down")).to_have_attribute("aria-pressed", "true")
    expect(answer.get_by_test_id("feedback-comment")).to_contain_text("wrong sum")

    page.get_by_test_id("nav-dashboard").click()
    panel = page.get_by_test_id("feedback-panel")
    row = panel.get_by_test_id("feedback-by-agent").get_by_test_id("feedback-row-assistant")
    expect(row.get_by_test_id("feedback-down")).to_have_text("▼ 1")
    expect(row.get_by_test_id("feedback-up")).to_have_text("▲ 0")
    expect(panel.get_by_test_id("feedback-by-model")).to_contain_text("scripted")
    shot(page, "dashboard-ratings")
    with page.expect_download() as jsonl:
        panel.get_by_test_id("feedback-export").click()
    lines = [json.loads(line) for line in Path(jsonl.value.path()).read_text().splitlines()]
    assert [(r["prompt"], r["answer"], r["rating"], r["comment"]) for r in lines] == [
        ("What is 2 + 2?", "Two plus two is five", -1, "wrong sum")
    ]
