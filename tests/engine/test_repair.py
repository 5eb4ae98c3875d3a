"""Near-miss tool calls are mended before they run: names, and arguments when only one
reading exists; everything else reaches the tool's own validation unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.engine.repair import repair_call, repair_name
from orchestrator.evals import EVAL_TOOLS, TASKS, EvalRunner
from orchestrator.evals._tools import outbox
from orchestrator.llm.base import ToolCall
from orchestrator.llm.gateway import ModelGateway
from orchestrator.llm.ollama import OllamaProvider
from orchestrator.tools.registry import ToolRegistry
from tests.conftest import make_settings
from tests.support.scripted_model import ScriptedModelServer

REGISTRY = ToolRegistry.from_entry_points().extended(EVAL_TOOLS)
SPECS = REGISTRY.specs()
NAMES = [s.name for s in SPECS]


@pytest.mark.parametrize(
    "written",
    [
        "read_file",
        "read-file",
        "readFile",
        "ReadFile",
        "READ_FILE",
        "read file",
        "functions.read_file",
        "read_fille",
    ],
)
def test_near_miss_names_map_to_the_one_tool(written: str) -> None:
    assert repair_name(written, NAMES) == "read_file"


@pytest.mark.parametrize("written", ["read", "file", "write_or_read_file", "", "rm -rf"])
def test_unknown_or_ambiguous_names_are_left_alone(written: str) -> None:
    assert repair_name(written, NAMES) is None
    call = ToolCall(id="c", name=written, arguments={"path": "x"})
    assert repair_call(call, SPECS).call == call


def test_git_names_do_not_collapse_into_each_other() -> None:
    assert repair_name("git-log", NAMES) == "git_log"
    assert repair_name("gitStatus", NAMES) == "git_status"
    assert repair_name("git", NAMES) is None


def _repaired(name: str, arguments: dict[str, object]) -> tuple[dict[str, object], tuple[str, ...]]:
    fixed = repair_call(ToolCall(id="c", name=name, arguments=arguments), SPECS)
    return fixed.call.arguments, fixed.changes


def test_unambiguous_arguments_are_coerced() -> None:
    args, changes = _repaired("set_thermostat", {"room": "kitchen", "target": "21", "mode": "HEAT"})
    assert args == {"room": "kitchen", "target": 21, "mode": "heat"} and len(changes) == 2
    assert (
        _repaired("encode", {"text": "a", "scheme": "url", "decode": "true"})[0]["decode"] is True
    )
    assert (
        _repaired("convert_units", {"value": "2.5", "from_unit": "km", "to_unit": "m"})[0]["value"]
        == 2.5
    )
    assert _repaired("git_log", {"limit": 3.0})[0]["limit"] == 3
    assert _repaired("write_file", {"path": "a", "content": 42})[0]["content"] == "42"
    nested = {"title": "t", "assignee": '{"name": "Maya", "team": "Frontend"}', "labels": "ui"}
    args, _ = _repaired("create_ticket", nested)
    assert args["assignee"] == {"name": "Maya", "team": "frontend"} and args["labels"] == ["ui"]
    # already right: nothing changes
    fine = {"room": "hall", "target": 20, "mode": "cool"}
    assert _repaired("set_thermostat", fine) == (fine, ())


def test_ambiguous_arguments_are_left_for_the_tool_to_refuse() -> None:
    args, changes = _repaired(
        "set_thermostat", {"room": "hall", "target": "twenty", "mode": "warm", "extra": "1"}
    )
    assert args == {"room": "hall", "target": "twenty", "mode": "warm", "extra": "1"}
    assert changes == ()
    assert _repaired("git_log", {"limit": "3.5"})[0]["limit"] == "3.5"  # no integer reading
    assert (
        _repaired("encode", {"text": "a", "scheme": "url", "decode": "yes"})[0]["decode"] == "yes"
    )


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(models=["scripted"]) as running:
        yield running


def _runner(server: ScriptedModelServer, tmp_path: Path, *, repair: bool) -> EvalRunner:
    server.reset()
    settings = make_settings(tmp_path, ollama_url=server.url)
    return EvalRunner(settings, ModelGateway(settings, [OllamaProvider(server.url)]), repair=repair)


TASK = {t.id: t for t in TASKS}


async def test_the_engine_runs_the_mended_call(server: ScriptedModelServer, tmp_path: Path) -> None:
    runner = _runner(server, tmp_path, repair=True)
    server.enqueue(tool_calls=[("ReadFile", {"path": "notes/todo.txt"})])
    server.enqueue(text="It says: buy oat milk")
    server.enqueue(
        tool_calls=[("set-thermostat", {"room": "kitchen", "target": "21", "mode": "Heat"})]
    )
    server.enqueue(text="Done.")
    report = await runner.run("scripted", (TASK["read-note"], TASK["thermostat-enum"]))
    note, heat = report.results
    assert note.success and note.calls[0].tool == "read_file" and note.repairs == 1
    assert heat.success and heat.calls[0].arguments == {
        "room": "kitchen",
        "target": 21,
        "mode": "heat",
    }
    # The model's next request shows the call under its real name and the tool's result.
    sent = server.chat_requests[1].messages
    assert sent[-2]["tool_calls"][0]["function"]["name"] == "read_file"
    assert "oat milk" in sent[-1]["content"]


async def test_without_repair_the_near_miss_fails(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    runner = _runner(server, tmp_path, repair=False)
    server.enqueue(tool_calls=[("ReadFile", {"path": "notes/todo.txt"})])
    server.enqueue(text="I cannot read it.")
    report = await runner.run("scripted", (TASK["read-note"],))
    [note] = report.results
    assert not note.success and not note.right_tool and note.repairs == 0
    assert note.calls[0].valid is False and "unknown tool" in note.calls[0].result


async def test_a_refused_call_comes_back_with_the_parameters_and_one_retry_fixes_it(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    runner = _runner(server, tmp_path, repair=True)
    server.enqueue(tool_calls=[("set_thermostat", {"room": "kitchen", "target": 21})])
    server.enqueue(
        tool_calls=[("set_thermostat", {"room": "kitchen", "target": 21, "mode": "heat"})]
    )
    server.enqueue(text="Set.")
    report = await runner.run("scripted", (TASK["thermostat-enum"],))
    [heat] = report.results
    observation = server.chat_requests[1].messages[-1]["content"]
    assert "bad arguments for set_thermostat" in observation and "mode" in observation
    assert "The parameters of set_thermostat are" in observation
    assert json.loads(observation.split("(JSON schema): ", 1)[1].rsplit(". Call", 1)[0])[
        "required"
    ] == ["room", "target", "mode"]
    assert heat.success and [c.valid for c in heat.calls] == [False, True]
    assert outbox(tmp_path) == []  # the task's own workspace was thrown away
