"""Knowledge bases in the browser: create a collection, upload a PDF and watch it become
ready, ask a question whose answer cites it, and open the citation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, shot, sign_in
from tests.knowledge import samples

pytestmark = pytest.mark.browser


def test_collection_upload_question_and_citation(page: Page, site: Site) -> None:
    site.account("alice")
    sign_in(page, site, "alice")
    page.get_by_role("link", name="Knowledge").click()
    page.get_by_test_id("collection-name").fill("Seabirds")
    page.get_by_test_id("create-collection").click()
    expect(page.get_by_test_id("collection")).to_contain_text("Seabirds")

    report = samples.pdf(
        [
            "Skomer seabird survey 2026. Introduction and methods.",
            "Results: the survey counted 412 puffins on the north cliffs of Skomer.",
        ]
    )
    page.get_by_test_id("upload-input").set_input_files(
        {"name": "survey.pdf", "mimeType": "application/pdf", "buffer": report}
    )
    document = page.get_by_test_id("document")
    expect(document).to_contain_text("survey.pdf")
    expect(document.get_by_test_id("document-status")).to_have_text("ready", timeout=60_000)
    expect(document).to_contain_text("2 p.")
    shot(page, "knowledge-collection")

    site.model.enqueue(tool_calls=[("search_knowledge", {"query": "how many puffins"})])
    site.model.enqueue(text="The survey counted 412 puffins [1].")
    page.get_by_test_id("new-chat").click()
    page.get_by_test_id("knowledge-picker").click()
    page.get_by_role("checkbox", name="Seabirds").check()
    box = page.get_by_label("Message", exact=True)
    box.fill("How many puffins were counted?")
    box.press("Enter")

    answer = page.get_by_test_id("assistant-message")
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.get_by_test_id("answer")).to_contain_text("412 puffins [1]")
    chip = answer.get_by_test_id("citation-chip")
    expect(chip).to_contain_text("[1]")
    expect(chip).to_contain_text("survey.pdf")
    expect(chip).to_contain_text("p. 2")
    request = site.model.chat_requests[-1].body
    assert "412 puffins" in request["messages"][-1]["content"]  # the passage reached the model

    chip.click()
    dialog = page.get_by_test_id("citation-dialog")
    expect(dialog).to_contain_text("survey.pdf")
    expect(dialog.get_by_test_id("citation-where")).to_contain_text("Page 2")
    expect(dialog.get_by_test_id("citation-text")).to_contain_text("412 puffins")
    shot(page, "knowledge-citation")

    page.reload()  # the citation is kept with the stored answer
    expect(page.get_by_test_id("citation-chip")).to_contain_text("survey.pdf")
