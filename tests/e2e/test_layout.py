"""The app at phone width, the tools page and the theme."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, shot, sign_in

pytestmark = pytest.mark.browser


def test_phone_width_uses_a_drawer(page: Page, site: Site) -> None:
    site.account("alice")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{site.url}/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct-horse-1")
    page.get_by_role("button", name="Sign in", exact=True).click()
    menu = page.get_by_role("button", name="Open menu")
    expect(menu).to_be_visible()
    expect(page.get_by_test_id("new-chat")).not_to_be_in_viewport()
    shot(page, "phone-chat")
    menu.click()
    expect(page.get_by_test_id("new-chat")).to_be_in_viewport(ratio=1)
    page.wait_for_timeout(300)  # the slide-in transition, for the screenshot
    shot(page, "phone-drawer")
    page.get_by_role("link", name="Tools").click()
    expect(page.get_by_test_id("page-title")).to_have_text("Tools")
    expect(page.get_by_test_id("new-chat")).not_to_be_in_viewport()


def test_tools_page_lists_tools_and_an_admin_switches_one_off(page: Page, site: Site) -> None:
    site.account("alice")
    sign_in(page, site, "alice")
    page.get_by_role("link", name="Tools").click()
    row = page.get_by_test_id("tool-calculate")
    expect(row).to_contain_text("calculate")
    switch = row.get_by_role("switch", name="Enable calculate")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(row).to_contain_text("disabled")
    shot(page, "tools")
    page.reload()
    expect(page.get_by_test_id("tool-calculate").get_by_role("switch")).to_have_attribute(
        "aria-checked", "false"
    )


def test_dark_theme_is_kept(page: Page, site: Site) -> None:
    site.account("alice")
    sign_in(page, site, "alice")
    page.goto(f"{site.url}/settings")
    page.get_by_test_id("theme-dark").click()
    page.reload()
    expect(page.get_by_test_id("account-username")).to_have_text("alice")
    expect(page.get_by_test_id("user-alice")).to_be_visible()
    assert page.evaluate("document.documentElement.classList.contains('dark')")
    shot(page, "settings-dark")
