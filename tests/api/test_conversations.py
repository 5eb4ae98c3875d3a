"""Conversations CRUD, messages and two-user isolation."""

from __future__ import annotations

from tests.conftest import Api


def test_conversation_lifecycle(any_db_api: Api) -> None:
    user = any_db_api.register()
    h = user.headers
    created = any_db_api.client.post("/conversations", json={"title": "Plans"}, headers=h)
    assert created.status_code == 201
    cid = created.json()["id"]
    assert any_db_api.client.get(f"/conversations/{cid}", headers=h).json()["title"] == "Plans"
    renamed = any_db_api.client.patch(
        f"/conversations/{cid}", json={"title": "Holiday plans"}, headers=h
    )
    assert renamed.json()["title"] == "Holiday plans"
    listing = any_db_api.client.get(
        "/conversations", params={"search": "holiday"}, headers=h
    ).json()
    assert listing["count"] == 1 and listing["data"][0]["id"] == cid
    messages = any_db_api.client.get(f"/conversations/{cid}/messages", headers=h).json()
    assert messages == {"data": [], "count": 0}
    assert any_db_api.client.delete(f"/conversations/{cid}", headers=h).status_code == 204
    assert any_db_api.client.get(f"/conversations/{cid}", headers=h).status_code == 404


def test_other_users_conversation_answers_404_everywhere(any_db_api: Api) -> None:
    owner, intruder = any_db_api.register(), any_db_api.register()
    cid = any_db_api.client.post(
        "/conversations", json={"title": "secret"}, headers=owner.headers
    ).json()["id"]
    h = intruder.headers
    missing = any_db_api.client.get(
        "/conversations/00000000-0000-0000-0000-000000000000", headers=h
    )
    answers = [
        any_db_api.client.get(f"/conversations/{cid}", headers=h),
        any_db_api.client.patch(f"/conversations/{cid}", json={"title": "mine"}, headers=h),
        any_db_api.client.delete(f"/conversations/{cid}", headers=h),
        any_db_api.client.get(f"/conversations/{cid}/messages", headers=h),
    ]
    for answer in answers:
        assert answer.status_code == 404 and answer.json() == missing.json()
    assert any_db_api.client.get("/conversations", headers=h).json()["count"] == 0
    assert (
        any_db_api.client.get(f"/conversations/{cid}", headers=owner.headers).json()["title"]
        == "secret"
    )


def test_conversation_bad_input_is_4xx(api: Api) -> None:
    h = api.register().headers
    for body in (
        {"title": ""},
        {"title": "x" * 201},
        {"title": 5},
        {"agent": "Bad Agent!"},
        {"extra": 1},
    ):
        assert api.client.post("/conversations", json=body, headers=h).status_code == 422
    for odd in ("%00", "..%2F..%2Fetc", "x" * 300, "'; DROP TABLE users; --"):
        assert api.client.get(f"/conversations/{odd}", headers=h).status_code == 404
    assert api.client.get("/conversations", params={"limit": 0}, headers=h).status_code == 422
