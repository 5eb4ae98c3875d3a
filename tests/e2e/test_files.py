"""The Files page in the browser: drop a file to upload it, browse the tree, preview."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, shot, sign_in

pytestmark = pytest.mark.browser

NOTES = "# Release notes\n\n- **fast** uploads\n\n<script>window.pwned = 1</script>\n"
CODE = "def greet(name: str) -> str:\n    return f'hello {name}'\n"


def drop_file(page: Page, target: str, name: str, content: str, mime: str) -> None:
    """Drag a file from the desktop onto `target` (a real DataTransfer with a File)."""
    transfer = page.evaluate_handle(
        """([name, content, mime]) => {
            const data = new DataTransfer()
            data.items.add(new File([content], name, { type: mime }))
            return data
        }""",
        [name, content, mime],
    )
    zone = page.get_by_test_id(target)
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    expect(page.get_by_text("Drop to upload to")).to_be_visible()
    zone.dispatch_event("drop", {"dataTransfer": transfer})


def test_upload_by_drop_then_browse_and_preview(page: Page, site: Site) -> None:
    alice = site.account("alice")
    site.api.client.put(
        "/workspace/files/src/app/greet.py", content=CODE.encode(), headers=alice.headers
    )
    sign_in(page, site, "alice")
    page.get_by_test_id("nav-files").click()
    expect(page.get_by_test_id("page-title")).to_have_text("Files")
    expect(page.get_by_test_id("file-row-src")).to_be_visible()

    drop_file(page, "files-dropzone", "notes.md", NOTES, "text/markdown")
    expect(page.get_by_test_id("upload-list")).to_contain_text("notes.md")
    row = page.get_by_test_id("file-row-notes.md")
    expect(row).to_contain_text("notes.md")
    row.get_by_role("button", name="notes.md", exact=True).click()
    preview = page.get_by_test_id("file-preview")
    expect(preview.get_by_test_id("preview-name")).to_have_text("notes.md")
    expect(preview.locator("h1")).to_have_text("Release notes")
    expect(preview.locator("strong")).to_have_text("fast")
    expect(preview.locator("script")).to_have_count(0)
    assert page.evaluate("window.pwned") is None
    shot(page, "files-markdown-preview")

    # The tree: open src, then app, then preview the code with highlighting.
    page.get_by_test_id("tree-src").click()
    page.get_by_test_id("tree-src/app").click()
    page.get_by_test_id("tree-src/app/greet.py").click()
    expect(preview.get_by_test_id("preview-name")).to_have_text("src/app/greet.py")
    expect(preview.locator(".hljs-keyword").first).to_have_text("def")
    expect(preview).to_contain_text("hello {name}")
    shot(page, "files-code-preview")

    stored = site.api.client.get("/workspace/files/notes.md", headers=alice.headers)
    assert stored.status_code == 200 and stored.text == NOTES


def test_attach_a_file_in_the_chat_and_the_agent_reads_it(page: Page, site: Site) -> None:
    site.account("alice")
    site.model.enqueue(tool_calls=[("read_file", {"path": "uploads/agenda.txt"})])
    site.model.enqueue(text="The agenda says: **budget review at 10**.")
    sign_in(page, site, "alice")

    page.get_by_test_id("attach-input").set_input_files(
        files=[{"name": "agenda.txt", "mimeType": "text/plain", "buffer": b"budget review at 10"}]
    )
    chip = page.get_by_test_id("attachment")
    expect(chip).to_contain_text("agenda.txt")
    expect(chip).to_have_attribute("data-status", "ready")
    box = page.get_by_label("Message", exact=True)
    box.fill("What is on the agenda?")
    box.press("Enter")

    answer = page.get_by_test_id("assistant-message")
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.locator("strong")).to_have_text("budget review at 10")
    expect(page.get_by_test_id("tool-card")).to_contain_text("read_file")
    expect(page.get_by_test_id("attachments")).to_have_count(0)
    sent = [m for m in site.model.chat_requests[0].messages if m["role"] == "user"][-1]
    assert "`uploads/agenda.txt`" in sent["content"]
    tool_result = [m for m in site.model.chat_requests[1].messages if m["role"] == "tool"][-1]
    assert tool_result["content"] == "budget review at 10"
    shot(page, "chat-attachment")
