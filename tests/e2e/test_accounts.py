"""Signing up, in and out, in the browser."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import PASSWORD, Site, shot, sign_in

pytestmark = pytest.mark.browser


def test_register_first_user_becomes_admin_and_lands_in_chat(page: Page, site: Site) -> None:
    page.goto(site.url)
    expect(page).to_have_url(f"{site.url}/login")
    shot(page, "login")
    page.get_by_role("tab", name="Register").click()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    expect(page.get_by_test_id("current-user")).to_have_text("alice")
    expect(page.get_by_role("heading", name="How can I help?")).to_be_visible()
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_test_id("account-role")).to_have_text("admin")
    expect(page.get_by_test_id("user-admin")).to_be_visible()
    shot(page, "settings-admin")


def test_pending_account_is_told_it_waits_for_approval(
    page: Page, start_site: Callable[..., Site]
) -> None:
    site = start_site(registration="approval")
    site.account("admin")  # the first account is active (and the admin)
    page.goto(f"{site.url}/login")
    page.get_by_role("tab", name="Register").click()
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("auth-notice")).to_contain_text("approval")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_test_id("auth-notice")).to_contain_text("approval")
    expect(page).to_have_url(f"{site.url}/login")


def test_wrong_password_is_refused_with_a_message(page: Page, site: Site) -> None:
    site.account("carol")
    page.goto(f"{site.url}/login")
    page.get_by_label("Username").fill("carol")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_test_id("auth-error")).to_be_visible()
    expect(page).to_have_url(f"{site.url}/login")


def test_logout_and_an_expired_token_return_to_login(page: Page, site: Site) -> None:
    site.account("dave")
    sign_in(page, site, "dave")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{site.url}/login")
    assert page.evaluate("localStorage.getItem('orchestrator.token')") is None

    # A token the server no longer accepts (expired, or the secret changed).
    page.evaluate("localStorage.setItem('orchestrator.token', 'not-a-valid-token')")
    page.goto(f"{site.url}/tools")
    expect(page).to_have_url(f"{site.url}/login?redirect=/tools")
    sign_in(page, site, "dave")


def test_admin_approves_a_pending_account(page: Page, start_site: Callable[..., Site]) -> None:
    site = start_site(registration="approval")
    site.account("root")
    response = site.api.client.post(
        "/auth/register", json={"username": "erin", "password": PASSWORD}
    )
    assert response.status_code == 201
    sign_in(page, site, "root")
    page.goto(f"{site.url}/settings")
    row = page.get_by_test_id("user-erin")
    expect(row).to_contain_text("pending")
    row.get_by_role("switch", name="Active: erin").click()
    expect(row).not_to_contain_text("pending")
    assert site.api.login("erin", PASSWORD).username == "erin"
