"""The Settings page: API keys are created (shown once), listed and revoked."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, shot, sign_in

pytestmark = pytest.mark.browser


def test_api_key_is_created_shown_once_used_and_revoked(page: Page, site: Site) -> None:
    site.account("kim")
    sign_in(page, site, "kim")
    page.goto(f"{site.url}/settings")
    page.get_by_test_id("api-key-name").fill("laptop script")
    page.get_by_test_id("api-key-expiry").select_option("30")
    page.get_by_test_id("api-key-create").click()
    secret = page.get_by_test_id("api-key-secret")
    expect(secret).to_contain_text("orch_")
    key = secret.inner_text()
    shot(page, "settings-api-key-created")

    me = site.api.client.get("/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["username"] == "kim"

    row = page.get_by_test_id("api-key-laptop script")
    expect(row).to_contain_text(key[:12])
    page.reload()
    expect(page.get_by_test_id("api-key-created")).to_have_count(0)  # shown once
    expect(row).to_contain_text("last used")
    assert key not in page.content()

    row.get_by_role("button", name="Revoke laptop script").click()
    page.get_by_test_id("api-key-revoke-confirm-laptop script").click()
    expect(row).to_have_count(0)
    gone = site.api.client.get("/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert gone.status_code == 401
