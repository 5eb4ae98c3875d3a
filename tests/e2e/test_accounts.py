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


def test_logout_and_an_expired_session_return_to_login(page: Page, site: Site) -> None:
    site.account("dave")
    sign_in(page, site, "dave")
    # The session is in HttpOnly cookies: nothing a script can read holds a credential.
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["orch_access"]["httpOnly"] and cookies["orch_access"]["sameSite"] == "Strict"
    assert cookies["orch_refresh"]["httpOnly"]
    assert "orch_access" not in page.evaluate("document.cookie")
    stored = page.evaluate("JSON.stringify({...localStorage})")
    assert cookies["orch_access"]["value"] not in stored and "token" not in stored
    access = cookies["orch_access"]["value"]

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{site.url}/login")
    assert "orch_access" not in {c["name"] for c in page.context.cookies()}
    # Logging out ended the session on the server, not only in this browser.
    gone = site.api.client.get("/auth/me", headers={"Authorization": f"Bearer {access}"})
    assert gone.status_code == 401

    # A session the server no longer accepts, with no way to renew it.
    page.context.add_cookies(
        [{"name": "orch_access", "value": "not-a-valid-token", "url": site.url}]
    )
    page.goto(f"{site.url}/tools")
    expect(page).to_have_url(f"{site.url}/login?redirect=/tools")
    sign_in(page, site, "dave")


def test_an_expired_access_cookie_is_renewed_without_signing_out(page: Page, site: Site) -> None:
    site.account("fay")
    sign_in(page, site, "fay")
    page.context.add_cookies(
        [{"name": "orch_access", "value": "expired-or-garbage", "url": site.url}]
    )
    page.goto(f"{site.url}/tools")  # the refresh cookie renews the session
    expect(page.get_by_test_id("current-user")).to_have_text("fay")
    expect(page).to_have_url(f"{site.url}/tools")
    page.goto(f"{site.url}/")
    site.model.enqueue(text="Renewed and answering.")
    box = page.get_by_label("Message", exact=True)
    box.fill("hello after renewal")
    box.press("Enter")  # a write with the CSRF header, then the chat socket by cookie
    expect(page.get_by_test_id("user-message")).to_have_text("hello after renewal")
    answer = page.get_by_test_id("assistant-message")
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer).to_contain_text("Renewed and answering.")


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
