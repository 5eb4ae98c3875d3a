"""The High finding: a deleted user's token must never become the next account's, and
nothing of the deleted account (workspace, memory) may pass to whoever comes next."""

from __future__ import annotations

import asyncio

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.memory import ChromaIndex
from orchestrator.tools.workspace import Workspace
from tests.conftest import Api
from tests.memory.conftest import forget_chroma_clients
from tests.support.server import serve_in_thread


def _indexed_users(settings: Settings) -> set[int]:
    async def owners() -> set[int]:
        index = ChromaIndex.from_settings(settings)
        found: set[int] = set()
        for space in await index.spaces():
            found.update(user_id for user_id, _ in await index.ids(space))
        return found

    forget_chroma_clients()
    return asyncio.run(owners())


def test_deleted_users_token_never_authenticates_the_next_account(settings: Settings) -> None:
    with serve_in_thread(create_app(settings)) as url:
        api = Api(url)
        http = api.client
        admin = api.register("boss")
        victim = api.register("leaver")
        (Workspace.for_user(settings, victim.id).root / "secret.txt").write_text("old data")
        remembered = http.post(
            "/memory", json={"content": "my bank PIN is 4921"}, headers=victim.headers
        )
        assert remembered.status_code == 201, remembered.text

        assert http.delete(f"/users/{victim.id}", headers=admin.headers).status_code == 204
        assert http.get("/auth/me", headers=victim.headers).status_code == 401
        assert not (settings.workspaces_dir / str(victim.id)).exists()

        newcomer = api.register("newcomer")
        assert newcomer.id != victim.id and newcomer.id > victim.id
        old = http.get("/auth/me", headers=victim.headers)
        assert old.status_code == 401 and old.json()["code"] == "unauthorized"
        assert http.get("/auth/me", headers=newcomer.headers).json()["username"] == "newcomer"
        assert list(Workspace.for_user(settings, newcomer.id).root.iterdir()) == []
        assert http.get("/memory", headers=newcomer.headers).json() == {"data": [], "count": 0}
        found = http.get("/memory", params={"query": "bank PIN"}, headers=newcomer.headers)
        assert found.json()["count"] == 0
        api.client.close()
    assert victim.id not in _indexed_users(settings)


def test_ids_are_not_reused_after_deleting_the_newest_account(any_db_api: Api) -> None:
    admin = any_db_api.register()
    ids = []
    for _ in range(3):
        user = any_db_api.register()
        ids.append(user.id)
        assert (
            any_db_api.client.delete(f"/users/{user.id}", headers=admin.headers).status_code == 204
        )
    assert ids == sorted(set(ids)), ids
