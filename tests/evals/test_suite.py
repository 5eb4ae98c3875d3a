"""The evaluation suite scored against a scripted model over real HTTP: every rate comes
from the calls and answers, and the same replies always give the same scores."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from orchestrator.evals import EVAL_TOOLS, SUITE_VERSION, TASKS, EvalRunner
from orchestrator.llm.gateway import ModelGateway
from orchestrator.llm.ollama import OllamaProvider
from orchestrator.tools.registry import ToolRegistry
from tests.conftest import make_settings
from tests.support.scripted_model import ScriptedModelServer

BY_ID = {t.id: t for t in TASKS}


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(models=["scripted"]) as running:
        yield running


@pytest.fixture
async def runner(
    server: ScriptedModelServer, tmp_path: Path
) -> AsyncIterator[tuple[EvalRunner, ScriptedModelServer]]:
    server.reset()
    settings = make_settings(tmp_path, ollama_url=server.url)
    gateway = ModelGateway(settings, [OllamaProvider(server.url)])
    yield EvalRunner(settings, gateway), server
    await gateway.aclose()


def test_the_suite_is_fixed_versioned_and_covers_every_skill() -> None:
    assert SUITE_VERSION and len(TASKS) >= 30 and len({t.id for t in TASKS}) == len(TASKS)
    counts = {c: sum(t.category == c for t in TASKS) for c in {t.category for t in TASKS}}
    assert set(counts) == {"pick_tool", "arguments", "chain", "no_tool", "recovery"}
    assert all(n >= 3 for n in counts.values())
    assert {len(t.expect) for t in TASKS if t.category == "chain"} == {2, 3}
    registry = ToolRegistry.from_entry_points().extended(EVAL_TOOLS)
    assert len(registry) > 40  # each task picks out of the whole catalogue
    for task in TASKS:  # every expected call names a real tool and real parameters
        for expect in task.expect:
            params = registry.get(expect.tool).parameters["properties"]
            assert set(expect.args) <= set(params), (task.id, expect.tool)
        assert task.expect or task.category == "no_tool"


async def test_a_right_call_and_answer_scores_full_marks(runner) -> None:
    run, model = runner
    model.enqueue(tool_calls=[("calculate", {"expression": "1234 * 5678"})])
    model.enqueue(text="The product is 7,006,652.")
    report = await run.run("scripted", (BY_ID["calc-product"],))
    [result] = report.results
    assert result.calls[0].result == "7006652" and result.calls[0].valid
    assert (report.valid_calls, report.right_tool, report.right_args, report.task_success) == (
        1.0,
        1.0,
        1.0,
        1.0,
    )
    assert report.tokens > 0 and report.suite_version == SUITE_VERSION
    # The model saw every tool of the catalogue (no retrieval in this runner).
    assert len(model.chat_requests[0].tool_names) == len(run.registry)


async def test_wrong_tool_bad_arguments_and_a_needless_call_are_counted(runner) -> None:
    run, model = runner
    # calc-product: the wrong tool first, then the right one; the answer is right.
    model.enqueue(tool_calls=[("get_datetime", {})])
    model.enqueue(tool_calls=[("calculate", {"expression": "1234*5678"})])
    model.enqueue(text="7006652")
    # order-status: an order id that is no number (invalid), then no retry.
    model.enqueue(tool_calls=[("lookup_order", {"order_id": "four"})])
    model.enqueue(text="I could not find it.")
    # no-tool-capital: a needless call, then the right answer.
    model.enqueue(tool_calls=[("calculate", {"expression": "1+1"})])
    model.enqueue(text="Paris")
    # no-tool-echo: right.
    model.enqueue(text="done")
    tasks = tuple(
        BY_ID[i] for i in ("calc-product", "order-status", "no-tool-capital", "no-tool-echo")
    )
    report = await run.run("scripted", tasks)
    calc, order, capital, echo = report.results
    assert not calc.right_tool and calc.right_args and calc.success  # in order, just late
    assert not order.right_tool or order.calls[0].valid is False
    assert order.calls[0].valid is False and not order.right_args and not order.success
    assert not capital.right_tool and capital.right_args is None and not capital.success
    assert echo.right_tool and echo.success and echo.attempted == 0
    assert report.valid_calls == round(3 / 4, 4)  # 4 calls, the order id one invalid
    assert report.right_tool == 0.5  # the order lookup and the echo
    assert report.right_args == 0.5  # of the two tasks that need tools
    assert report.task_success == 0.5


async def test_chains_must_run_in_order_and_leave_the_workspace_right(runner) -> None:
    run, model = runner
    # copy-file: right order and content.
    model.enqueue(tool_calls=[("read_file", {"path": "a.txt"})])
    model.enqueue(tool_calls=[("write_file", {"path": "b.txt", "content": "lantern"})])
    model.enqueue(text="Copied.")
    # config-weather-save: writes before reading (the right calls, the wrong order).
    model.enqueue(tool_calls=[("write_file", {"path": "sky.txt", "content": "sunny"})])
    model.enqueue(tool_calls=[("read_file", {"path": "config.json"})])
    model.enqueue(tool_calls=[("get_weather", {"city": "Cairo"})])
    model.enqueue(text="Saved.")
    report = await run.run("scripted", (BY_ID["copy-file"], BY_ID["config-weather-save"]))
    copy, weather = report.results
    assert copy.success and [c.tool for c in copy.calls] == ["read_file", "write_file"]
    assert weather.right_args and not weather.success and not weather.right_tool
    assert '"temperature_c": 27' in weather.calls[2].result  # the real tool answered


async def test_recovery_from_a_tool_error(runner) -> None:
    run, model = runner
    model.enqueue(tool_calls=[("lookup_order", {"order_id": 9003})])
    model.enqueue(tool_calls=[("lookup_order", {"order_id": 9003})])
    model.enqueue(text="Order 9003 was delivered.")
    model.enqueue(tool_calls=[("lookup_order", {"order_id": 9003})])  # a fresh workspace:
    model.enqueue(text="The service is busy.")  # the first try fails again, no retry
    report = await run.run("scripted", (BY_ID["recover-busy"], BY_ID["recover-busy"]))
    retried, gave_up = report.results
    assert [c.status for c in retried.calls] == ["failed", "finished"] and retried.success
    assert "busy" in retried.calls[0].result
    assert [c.status for c in gave_up.calls] == ["failed"] and not gave_up.success


async def test_a_model_error_fails_the_task_not_the_suite(runner) -> None:
    run, model = runner
    model.enqueue(error=(500, "out of memory"))
    model.enqueue(text="Paris")
    report = await run.run("scripted", (BY_ID["read-note"], BY_ID["no-tool-capital"]))
    broken, fine = report.results
    assert broken.error and "out of memory" in broken.error and not broken.success
    assert fine.success and report.task_success == 0.5


def test_the_command_prints_a_table_and_writes_json(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    server.reset()
    server.enqueue(tool_calls=[("get_weather", {"city": "Oslo"})])
    server.enqueue(text="It is -3 C with snow in Oslo.")
    out = tmp_path / "report.json"
    env = {
        "PATH": "/usr/bin:/bin",
        "DATA_DIR": str(tmp_path / "data"),
        "OLLAMA_URL": server.url,
        "TOOL_RETRIEVAL_THRESHOLD": "1000",
    }
    done = subprocess.run(
        [
            Path(sys.executable).parent / "orchestrator",
            "eval",
            "--model",
            "scripted",
            "--task",
            "weather-oslo",
            "--no-retrieval",
            "--json",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "weather-oslo" in done.stdout and "100%" in done.stdout
    report = json.loads(out.read_text())
    assert {k: report[k] for k in ("model", "tasks", "right_tool", "task_success")} == {
        "model": "scripted",
        "tasks": 1,
        "right_tool": 1.0,
        "task_success": 1.0,
    }
    unknown = subprocess.run(
        [
            Path(sys.executable).parent / "orchestrator",
            "eval",
            "--model",
            "scripted",
            "--task",
            "nope",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unknown.returncode == 2 and "no such task" in unknown.stdout
