"""A real server with the whole tool catalogue and no approvals, driven by the scripted
model: `turn(api, model, user, [(tool, params), ...])` runs one agent turn."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.app import create_app
from orchestrator.core.config import Settings
from orchestrator.tools.registry import ToolRegistry
from tests.conftest import Account, Api, scripted_gateway
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import serve_in_thread


@pytest.fixture
def tools_api(settings: Settings, model: ScriptedModelServer) -> Iterator[tuple[Api, Settings]]:
    """The real catalogue (entry points), every risk auto-approved, on SQLite."""
    settings = settings.model_copy(
        update={"ollama_url": model.url, "approval_risks": [], "command_timeout": 10.0}
    )
    app = create_app(
        settings, models=scripted_gateway(settings, model), tools=ToolRegistry.from_entry_points()
    )
    with serve_in_thread(app) as url:
        api = Api(url)
        yield api, settings
        api.client.close()


def turn(
    api: Api,
    model: ScriptedModelServer,
    user: Account,
    calls: list[tuple[str, dict[str, Any]]],
    agent: str | None = None,
) -> str:
    """One chat turn in which the model makes `calls`; the run's id."""
    model.enqueue(tool_calls=calls)
    model.enqueue(text="done")
    body: dict[str, Any] = {"message": "work"}
    if agent:
        body["agent"] = agent
    answer = api.client.post("/chat", json=body, headers=user.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["run_id"]


def tool_results(api: Api, user: Account, run_id: str) -> list[dict[str, Any]]:
    """The finished, failed or denied tool events of a run, in order."""
    events = api.client.get(f"/runs/{run_id}/events", headers=user.headers).json()["data"]
    return [e["data"] for e in events if e["type"] == "tool" and e["data"]["status"] != "started"]
