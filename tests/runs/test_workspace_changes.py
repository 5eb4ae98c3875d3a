"""A workspace you can undo: every change a run makes is recorded, listed and reverted.

Real server, real SQLite, real tools (the command ones in the real sandbox), with the
scripted model making the calls through agent turns.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.core.config import Settings
from orchestrator.tools.sandbox import sandbox_status
from tests.conftest import Account, Api, require_service
from tests.support.scripted_model import ScriptedModelServer
from tests.support.tool_turns import tools_api, turn

__all__ = ["tools_api"]


def workspace(settings: Settings, user: Account) -> Path:
    return settings.workspaces_dir / str(user.id)


def changes(api: Api, user: Account, run_id: str) -> dict[str, dict]:
    response = api.client.get(f"/runs/{run_id}/changes", headers=user.headers)
    assert response.status_code == 200, response.text
    return {c["path"]: c for c in response.json()["data"]}


def test_file_tool_changes_are_listed_with_diffs_and_reverted(
    tools_api: tuple[Api, Settings], model: ScriptedModelServer
) -> None:
    api, settings = tools_api
    user = api.register()
    root = workspace(settings, user)
    root.mkdir(parents=True, exist_ok=True)
    (root / "keep.txt").write_text("line one\nline two\n")
    (root / "old.txt").write_text("to be deleted\n")
    (root / "move-me.txt").write_text("moving content\n")
    run_id = turn(
        api,
        model,
        user,
        [
            ("write_file", {"path": "docs/new.md", "content": "# New\n"}),
            ("edit_file", {"path": "keep.txt", "old_text": "two", "new_text": "2"}),
            ("delete_path", {"path": "old.txt"}),
            ("move_path", {"source": "move-me.txt", "destination": "moved.txt"}),
        ],
    )
    found = changes(api, user, run_id)
    assert found["docs/new.md"]["action"] == "created"
    assert found["keep.txt"]["action"] == "modified"
    assert "-line two\n+line 2\n" in found["keep.txt"]["diff"]
    assert found["old.txt"]["action"] == "deleted" and found["old.txt"]["size_before"] == 14
    assert found["moved.txt"]["action"] == "moved"
    assert found["moved.txt"]["moved_from"] == "move-me.txt"
    assert "move-me.txt" not in found

    response = api.client.post(f"/runs/{run_id}/revert", json={}, headers=user.headers)
    assert response.status_code == 200, response.text
    assert (root / "keep.txt").read_text() == "line one\nline two\n"
    assert (root / "old.txt").read_text() == "to be deleted\n"
    assert (root / "move-me.txt").read_text() == "moving content\n"
    assert not (root / "moved.txt").exists() and not (root / "docs").exists()
    assert all(c["reverted"] for c in changes(api, user, run_id).values())


@pytest.fixture
def sandboxed(settings: Settings) -> None:
    status = sandbox_status(settings)
    require_service(f"the bubblewrap sandbox ({status.detail})", status.level == "bwrap")


def test_command_changes_are_found_by_comparison_and_reverted(
    tools_api: tuple[Api, Settings], model: ScriptedModelServer, sandboxed: None
) -> None:
    api, settings = tools_api
    user = api.register()
    root = workspace(settings, user)
    root.mkdir(parents=True, exist_ok=True)
    (root / "a.txt").write_text("original\n")
    (root / "gone.txt").write_text("doomed\n")
    run_id = turn(
        api,
        model,
        user,
        [
            ("execute_command", {"command": "echo changed > a.txt; rm gone.txt; mkdir d"}),
            ("run_python", {"code": "open('d/made.py', 'w').write('x = 1\\n')"}),
        ],
    )
    found = changes(api, user, run_id)
    assert found["a.txt"]["action"] == "modified"
    assert found["gone.txt"]["action"] == "deleted"
    assert found["d/made.py"]["action"] == "created"
    assert found["d"]["action"] == "created" and found["d"]["kind"] == "dir"
    assert api.client.post(f"/runs/{run_id}/revert", headers=user.headers).status_code == 200
    assert (root / "a.txt").read_text() == "original\n"
    assert (root / "gone.txt").read_text() == "doomed\n"
    assert not (root / "d").exists()


def test_revert_conflicts_when_a_later_run_changed_the_path(
    tools_api: tuple[Api, Settings], model: ScriptedModelServer
) -> None:
    api, settings = tools_api
    user = api.register()
    first = turn(api, model, user, [("write_file", {"path": "f.txt", "content": "first\n"})])
    second = turn(api, model, user, [("write_file", {"path": "f.txt", "content": "second\n"})])
    refused = api.client.post(f"/runs/{first}/revert", json={}, headers=user.headers)
    assert refused.status_code == 409 and "f.txt" in refused.json()["detail"]
    assert refused.json()["code"] == "conflict"
    assert (workspace(settings, user) / "f.txt").read_text() == "second\n"
    # Reverting the later run first, then the earlier one, needs no force.
    assert api.client.post(f"/runs/{second}/revert", headers=user.headers).status_code == 200
    assert (workspace(settings, user) / "f.txt").read_text() == "first\n"
    assert api.client.post(f"/runs/{first}/revert", headers=user.headers).status_code == 200
    assert not (workspace(settings, user) / "f.txt").exists()


def test_forced_revert_overrides_a_later_run(
    tools_api: tuple[Api, Settings], model: ScriptedModelServer
) -> None:
    api, settings = tools_api
    user = api.register()
    root = workspace(settings, user)
    root.mkdir(parents=True, exist_ok=True)
    (root / "f.txt").write_text("start\n")
    first = turn(api, model, user, [("write_file", {"path": "f.txt", "content": "first\n"})])
    turn(api, model, user, [("write_file", {"path": "f.txt", "content": "second\n"})])
    forced = api.client.post(f"/runs/{first}/revert", json={"force": True}, headers=user.headers)
    assert forced.status_code == 200, forced.text
    assert (root / "f.txt").read_text() == "start\n"


def test_changes_and_revert_are_owner_only(
    tools_api: tuple[Api, Settings], model: ScriptedModelServer
) -> None:
    api, settings = tools_api
    owner, other = api.register(), api.register()
    run_id = turn(api, model, owner, [("write_file", {"path": "mine.txt", "content": "x"})])
    for path in (f"/runs/{run_id}/changes", "/runs/no-such-run/changes"):
        response = api.client.get(path, headers=other.headers)
        assert response.status_code == 404 and response.json()["detail"] == "run not found"
    for path in (f"/runs/{run_id}/revert", "/runs/no-such-run/revert"):
        response = api.client.post(path, json={}, headers=other.headers)
        assert response.status_code == 404 and response.json()["detail"] == "run not found"
    assert (workspace(settings, owner) / "mine.txt").read_text() == "x"
    bad = api.client.post(
        f"/runs/{run_id}/revert", json={"force": "yes please"}, headers=owner.headers
    )
    assert bad.status_code == 422
    assert api.client.get(f"/runs/{run_id}/changes").status_code == 401
