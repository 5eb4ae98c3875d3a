"""French and English, accessibility (axe-core on every page) and keyboard shortcuts, in
Chromium. Screenshots of the French interface go to frontend/test-results/fr-*.png."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import PASSWORD, ROOT, Site, shot, sign_in

pytestmark = pytest.mark.browser

AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
LOCALES = ROOT / "frontend" / "src" / "locales"
# WCAG 2.1 A and AA rules; a serious or critical violation fails the page.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}
AXE_RUN = """tags => axe.run(document, {
    runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
  .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 6).map(n => n.target.join(' '))})))"""


def check_axe(page: Page, where: str) -> list[str]:
    """Run axe-core on the page as it is: its serious and critical violations."""
    if not page.evaluate("typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol: the page's CSP (script-src 'self') allows
        # no inline script, and axe is not part of the app.
        page.evaluate(AXE.read_text())
    found = page.evaluate(AXE_RUN, AXE_TAGS)
    return [f"{where}: {json.dumps(v)}" for v in found if v["impact"] in BLOCKING]


def nav_pages(page: Page) -> list[str]:
    """Every page the sidebar links to (those other features add come along), by test id."""
    links = page.locator("[data-testid^='nav-']")
    found = [str(links.nth(i).get_attribute("data-testid")) for i in range(links.count())]
    assert len(found) >= 9 and "nav-settings" in found, found
    return found


def visit(page: Page, testid: str) -> None:
    """Open a page from the sidebar, the way people do (a full load of /mcp would reach the
    MCP endpoint, not the app)."""
    link = page.get_by_test_id(testid)
    href = link.get_attribute("href")
    link.click()
    if href:  # the new page, not the last one still showing its title
        expect(page).to_have_url(re.compile(re.escape(href) + r"(\?.*)?$"))
    expect(page.get_by_test_id("page-title"), testid).to_be_visible()
    page.wait_for_load_state("networkidle")


def open_page(page: Page, site: Site, path: str) -> None:
    page.goto(f"{site.url}{path}")
    expect(page.get_by_test_id("page-title"), f"the page {path}").to_be_visible()
    page.wait_for_load_state("networkidle")


@pytest.fixture
def axe_available() -> Path:
    assert AXE.exists(), "axe-core is installed with the web app (npm ci in frontend/)"
    return AXE


def seed(site: Site) -> str:
    """An admin with a conversation whose answer used a tool; its conversation id."""
    admin = site.account("alice")
    site.model.enqueue(tool_calls=[("calculate", {"expression": "6*7"})])
    site.model.enqueue(text="**6 x 7 = 42.**")
    answer = site.api.client.post(
        "/chat", json={"message": "Combien font 6 x 7 ?"}, headers=admin.headers
    ).json()
    return str(answer["conversation_id"])


def test_axe_finds_nothing_serious_on_any_page(page: Page, site: Site, axe_available: Path) -> None:
    conversation = seed(site)
    found: list[str] = []
    page.goto(f"{site.url}/login")
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    found += check_axe(page, "login")
    sign_in(page, site, "alice")
    for testid in nav_pages(page):
        visit(page, testid)
        if testid == "nav-usage":  # checked with its charts drawn
            for chart in ("usage-tokens-chart", "usage-status-chart"):
                expect(page.get_by_test_id(chart).locator("canvas")).to_be_visible()
        found += check_axe(page, testid)
    open_page(page, site, f"/c/{conversation}")
    expect(page.get_by_test_id("assistant-message")).to_contain_text("6 x 7 = 42.")
    found += check_axe(page, "a conversation")
    open_page(page, site, "/")
    page.keyboard.press("Control+/")
    expect(page.get_by_test_id("shortcuts-dialog")).to_be_visible()
    found += check_axe(page, "the shortcuts dialog")
    page.keyboard.press("Escape")
    page.evaluate("localStorage.setItem('orchestrator.theme', 'dark')")
    for path in ("/", f"/c/{conversation}", "/dashboard", "/settings"):
        open_page(page, site, path)
        found += check_axe(page, f"{path} (dark)")
    assert found == [], "axe:\n" + "\n".join(found)


def english_phrases() -> list[str]:
    """The English messages a French page must not show: those whose French differs, with
    their placeholders taken out (what is left of each, if long enough)."""

    def leaves(tree: dict[str, object], prefix: str = "") -> Iterator[tuple[str, str]]:
        for key, value in tree.items():
            if isinstance(value, dict):
                yield from leaves(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", str(value)

    en = dict(leaves(json.loads((LOCALES / "en.json").read_text())))
    fr = dict(leaves(json.loads((LOCALES / "fr.json").read_text())))
    phrases = set()
    for key, text in en.items():
        if text == fr.get(key):
            continue
        for part in re.split(r"\{[^}]*\}|\|", text):
            part = part.strip(" .:;,()“”…")
            if len(part) >= 12 and " " in part:
                phrases.add(part)
    return sorted(phrases)


def test_french_everywhere_and_kept_with_the_account(
    page: Page, site: Site, browser: Browser
) -> None:
    conversation = seed(site)
    sign_in(page, site, "alice")
    page.get_by_role("link", name="Settings").click()
    page.get_by_test_id("language-picker").select_option("fr")
    expect(page.get_by_test_id("page-title")).to_have_text("Paramètres")
    assert page.evaluate("document.documentElement.lang") == "fr"
    english = english_phrases()
    assert len(english) > 100
    for testid in nav_pages(page):
        visit(page, testid)
        text = page.locator("body").inner_text()
        leftovers = [p for p in english if p in text]
        assert leftovers == [], f"English on the French {testid} page: {leftovers}"
        shot(page, f"fr-{testid[4:].replace(' ', '-')}")
    open_page(page, site, f"/c/{conversation}")
    expect(page.get_by_test_id("assistant-message")).to_contain_text("6 x 7 = 42.")
    expect(page.get_by_label("Message", exact=True)).to_have_attribute(
        "placeholder", "Écrivez à l'agent…"
    )
    shot(page, "fr-chat")
    page.keyboard.press("Control+/")
    expect(page.get_by_test_id("shortcuts-dialog")).to_contain_text("Raccourcis clavier")
    shot(page, "fr-shortcuts")
    page.keyboard.press("Escape")

    # A date reads the French way (day before month), a size with a decimal comma.
    site.api.client.put(
        "/workspace/files/notes.txt",
        content=b"x" * 1536,
        headers=site.api.login("alice", PASSWORD).headers,
    )
    open_page(page, site, "/files")
    expect(page.get_by_test_id("file-row-notes.txt")).to_contain_text("1,5\u00a0Ko")

    # The choice is the account's: another browser (an English one) opens in French.
    other = browser.new_context(locale="en-US")
    try:
        fresh = other.new_page()
        fresh.goto(f"{site.url}/login")
        expect(fresh.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
        fresh.get_by_label("Username").fill("alice")
        fresh.get_by_label("Password").fill(PASSWORD)
        fresh.get_by_role("button", name="Sign in", exact=True).click()
        expect(fresh.get_by_role("heading", name="Comment puis-je vous aider ?")).to_be_visible()
    finally:
        other.close()


def test_the_login_page_follows_a_french_browser(browser: Browser, site: Site) -> None:
    context = browser.new_context(locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(f"{site.url}/login")
        expect(page.get_by_role("button", name="Se connecter", exact=True)).to_be_visible()
        expect(page.get_by_text("Bon retour parmi nous")).to_be_visible()
        page.get_by_label("Nom d'utilisateur").fill("nobody")
        page.get_by_label("Mot de passe").fill("wrong-password-1")
        page.get_by_role("button", name="Se connecter", exact=True).click()
        # The API's code, translated: not the server's English detail.
        expect(page.get_by_test_id("auth-error")).to_have_text(
            "Échec de la connexion\u00a0: nom d'utilisateur ou mot de passe incorrect."
        )
        shot(page, "fr-login-error")
    finally:
        context.close()


def test_keyboard_shortcuts(page: Page, site: Site) -> None:
    conversation = seed(site)
    site.model.enqueue(text="Second")
    second = site.api.client.post(
        "/chat",
        json={"message": "Another chat"},
        headers=site.api.login("alice", PASSWORD).headers,
    ).json()["conversation_id"]
    sign_in(page, site, "alice")
    composer = page.get_by_label("Message", exact=True)

    # Help: "?" outside a text field opens it; the focus stays inside; Esc closes it and
    # gives the focus back.
    settings_link = page.get_by_role("link", name="Settings")
    settings_link.focus()
    page.keyboard.press("?")
    dialog = page.get_by_test_id("shortcuts-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(settings_link).to_be_focused()
    # Typed in the message box, "?" is a question mark.
    composer.focus()
    page.keyboard.type("why?")
    expect(composer).to_have_value("why?")
    expect(dialog).to_be_hidden()
    composer.fill("")

    # Moving between chats: the list is newest first.
    page.keyboard.press("Alt+ArrowDown")
    expect(page).to_have_url(f"{site.url}/c/{second}")
    page.keyboard.press("Alt+ArrowDown")
    expect(page).to_have_url(f"{site.url}/c/{conversation}")
    page.keyboard.press("Alt+ArrowUp")
    expect(page).to_have_url(f"{site.url}/c/{second}")

    # Shift+Esc: the message box, wherever the focus was.
    settings_link.focus()
    page.keyboard.press("Shift+Escape")
    expect(composer).to_be_focused()

    # Esc stops the answer under way.
    site.model.token_delay = 0.3
    site.model.enqueue(text=" ".join(["word"] * 200))
    composer.fill("Write a long text")
    composer.press("Enter")
    expect(page.get_by_test_id("stop")).to_be_visible()
    expect(page.get_by_test_id("assistant-message").last).to_contain_text("word word")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("assistant-message").last).to_have_attribute(
        "data-status", "cancelled"
    )
    site.model.token_delay = 0

    # Ctrl+Shift+O: a new chat, ready to type in.
    page.keyboard.press("Control+Shift+O")
    expect(page).to_have_url(f"{site.url}/")
    expect(page.get_by_role("heading", name="How can I help?")).to_be_visible()
    expect(composer).to_be_focused()
