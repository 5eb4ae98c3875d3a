"""Admin user management."""

from __future__ import annotations

from tests.conftest import Api


def test_admin_lists_users_and_user_cannot(any_db_api: Api) -> None:
    admin = any_db_api.register("root1")
    user = any_db_api.register("plain")
    listing = any_db_api.client.get("/users", headers=admin.headers).json()
    assert listing["count"] == 2 and [u["username"] for u in listing["data"]] == ["root1", "plain"]
    assert any_db_api.client.get("/users", headers=user.headers).status_code == 403
    assert (
        any_db_api.client.patch(
            f"/users/{admin.id}", json={"role": "user"}, headers=user.headers
        ).status_code
        == 403
    )


def test_admin_promotes_deactivates_and_deletes(any_db_api: Api) -> None:
    admin = any_db_api.register("root2")
    user = any_db_api.register("worker")
    promoted = any_db_api.client.patch(
        f"/users/{user.id}", json={"role": "admin"}, headers=admin.headers
    )
    assert promoted.json()["role"] == "admin"
    off = any_db_api.client.patch(
        f"/users/{user.id}", json={"is_active": False}, headers=admin.headers
    )
    assert off.json()["is_active"] is False
    # A deactivated user's token stops working at once.
    assert any_db_api.client.get("/auth/me", headers=user.headers).status_code == 401
    assert any_db_api.client.delete(f"/users/{user.id}", headers=admin.headers).status_code == 204
    assert any_db_api.client.get(f"/users/{user.id}", headers=admin.headers).status_code == 404


def test_last_admin_cannot_remove_itself(api: Api) -> None:
    admin = api.register("solo")
    assert (
        api.client.patch(
            f"/users/{admin.id}", json={"role": "user"}, headers=admin.headers
        ).status_code
        == 409
    )
    assert (
        api.client.patch(
            f"/users/{admin.id}", json={"is_active": False}, headers=admin.headers
        ).status_code
        == 409
    )
    assert api.client.delete(f"/users/{admin.id}", headers=admin.headers).status_code == 409


def test_patch_rejects_unknown_fields_and_roles(api: Api) -> None:
    admin = api.register("boss")
    user = api.register("minion")
    assert (
        api.client.patch(
            f"/users/{user.id}", json={"role": "god"}, headers=admin.headers
        ).status_code
        == 422
    )
    assert (
        api.client.patch(
            f"/users/{user.id}", json={"password_hash": "x"}, headers=admin.headers
        ).status_code
        == 422
    )
    assert (
        api.client.patch("/users/not-a-number", json={}, headers=admin.headers).status_code == 422
    )
    assert api.client.get("/users/999999", headers=admin.headers).status_code == 404
