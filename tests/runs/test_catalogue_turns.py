"""Each tool family through a whole agent turn: the scripted model calls the real tool,
the built-in agent that should have it does, and the result reaches the event log."""

from __future__ import annotations

import json

import pytest

from orchestrator.agents import BUILTIN_AGENTS
from orchestrator.core.config import Settings
from orchestrator.tools import ToolRegistry
from orchestrator.tools.sandbox import sandbox_status
from tests.conftest import Api, require_service
from tests.support.scripted_model import ScriptedModelServer
from tests.support.tool_turns import tool_results, tools_api, turn

__all__ = ["tools_api"]
AGENTS = {a.name: a for a in BUILTIN_AGENTS}


def test_agents_tool_lists_fit_their_roles() -> None:
    coder = set(AGENTS["coder"].tools or [])
    assert {"edit_file", "apply_patch", "grep", "git_commit", "run_tests", "run_lint"} <= coder
    assert {"web_search", "web_read"} <= set(AGENTS["researcher"].tools or [])
    assert {"query_data", "convert_units"} <= set(AGENTS["analyst"].tools or [])
    assert "search_knowledge" in (AGENTS["researcher"].tools or [])


def test_agents_name_only_tools_that_exist() -> None:
    known = {t.name for t in ToolRegistry.from_entry_points()}
    for agent in BUILTIN_AGENTS:
        assert set(agent.tools or []) <= known, agent.name


def test_files_family_through_the_coder(
    tools_api: tuple[Api, Settings], model: ScriptedModelServer
) -> None:
    api, _settings = tools_api
    user = api.register()
    run_id = turn(
        api,
        model,
        user,
        [
            ("write_file", {"path": "app.py", "content": "x = 1\n"}),
            ("edit_file", {"path": "app.py", "old_text": "x = 1", "new_text": "x = 2"}),
            ("grep", {"pattern": "x = \\d"}),
        ],
        agent="coder",
    )
    results = tool_results(api, user, run_id)
    assert [r["status"] for r in results] == ["finished"] * 3
    assert results[2]["result"] == "app.py:1: x = 2"


def test_data_family_through_the_analyst(
    tools_api: tuple[Api, Settings], model: ScriptedModelServer
) -> None:
    api, settings = tools_api
    user = api.register()
    root = settings.workspaces_dir / str(user.id)
    root.mkdir(parents=True, exist_ok=True)
    (root / "sales.csv").write_text("region,amount\nnorth,10\nsouth,32\n")
    run_id = turn(
        api,
        model,
        user,
        [
            ("query_data", {"sql": "SELECT sum(amount) AS total FROM 'sales.csv'"}),
            ("query_data", {"sql": "SELECT * FROM read_csv('/etc/passwd')"}),
            ("convert_units", {"value": 42, "from_unit": "km", "to_unit": "m"}),
        ],
        agent="analyst",
    )
    results = tool_results(api, user, run_id)
    assert json.loads(results[0]["result"])["rows"] == [[42]]
    assert results[1]["status"] == "failed" and "root:" not in results[1]["result"]
    assert json.loads(results[2]["result"])["result"] == 42000


def test_text_and_archive_families_through_the_assistant(
    tools_api: tuple[Api, Settings], model: ScriptedModelServer
) -> None:
    api, _settings = tools_api
    user = api.register()
    run_id = turn(
        api,
        model,
        user,
        [
            ("write_file", {"path": "a/n.txt", "content": "note"}),
            ("archive", {"action": "create", "archive": "a.zip", "paths": ["a"]}),
            ("archive", {"action": "list", "archive": "a.zip"}),
            ("encode", {"text": "note", "scheme": "base64"}),
            ("hash", {"text": "note"}),
        ],
    )
    results = tool_results(api, user, run_id)
    assert [r["status"] for r in results] == ["finished"] * 5
    assert "a/n.txt" in results[2]["result"] and results[3]["result"] == "bm90ZQ=="


def test_web_family_through_the_researcher(
    tools_api: tuple[Api, Settings], model: ScriptedModelServer
) -> None:
    api, _ = tools_api
    user = api.register()
    run_id = turn(
        api,
        model,
        user,
        [("web_search", {"query": "local models"}), ("web_read", {"url": "http://127.0.0.1:1/"})],
        agent="researcher",
    )
    results = tool_results(api, user, run_id)
    assert results[0]["status"] == "failed" and "not configured" in results[0]["result"]
    assert results[1]["status"] == "failed" and "internal" in results[1]["result"]


def test_dev_family_through_the_coder(
    tools_api: tuple[Api, Settings], model: ScriptedModelServer
) -> None:
    api, settings = tools_api
    require_service("the bubblewrap sandbox", sandbox_status(settings).level == "bwrap")
    user = api.register()
    root = settings.workspaces_dir / str(user.id)
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text('[project]\nname = "t"\nversion = "0"\n')
    (root / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    run_id = turn(
        api,
        model,
        user,
        [
            ("run_tests", {}),
            ("git_commit", {"message": "initial"}),
            ("git_log", {}),
        ],
        agent="coder",
    )
    results = tool_results(api, user, run_id)
    tests = json.loads(results[0]["result"])
    assert tests["passed"] is True and tests["counts"]["passed"] == 1
    assert results[1]["status"] == "finished" and "initial" in results[2]["result"]


@pytest.mark.parametrize("tool", ["list_models", "get_datetime"])
def test_info_family_through_the_assistant(
    tools_api: tuple[Api, Settings], model: ScriptedModelServer, tool: str
) -> None:
    api, _ = tools_api
    user = api.register()
    results = tool_results(api, user, turn(api, model, user, [(tool, {})]))
    assert results[0]["status"] == "finished"
    if tool == "list_models":
        assert "scripted" in results[0]["result"]


def test_tools_route_lists_the_catalogue(tools_api: tuple[Api, Settings]) -> None:
    api, _ = tools_api
    user = api.register()
    tools = api.client.get("/tools", headers=user.headers).json()["data"]
    assert len(tools) >= 39
    by_name = {t["name"]: t for t in tools}
    for name in ("web_search", "web_read", "apply_patch", "query_data", "archive", "run_tests"):
        tool = by_name[name]
        assert tool["description"] and tool["category"] and tool["risk"]
        assert tool["parameters"]["type"] == "object"
