"""API keys for tests of the surfaces programs use (`/v1`, `/mcp`)."""

from __future__ import annotations

from tests.conftest import Account, Api


def api_key(api: Api, user: Account, name: str = "script") -> str:
    """A new `orch_` API key of the user's, as the Settings page would make it."""
    response = api.client.post("/auth/api-keys", json={"name": name}, headers=user.headers)
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    assert key.startswith("orch_")
    return key
