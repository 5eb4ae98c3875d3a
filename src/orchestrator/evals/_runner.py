"""Runs the suite on one model and scores it, with no model grading a model.

Each task runs one agent turn (the ReAct engine, as every agent turn does) in a fresh
throwaway workspace, with the registry's tools and the suite's own. Calls are run for
real, except `exec` and `network` tools, which answer that they are not available here
(offering them still tests the model's choice). Scores come from the calls and the
answer:

- valid-call: calls that named a known tool with arguments its schema accepts, over all
  calls attempted (malformed ones included);
- right-tool: tasks whose first call is the first expected tool (no call at all, for the
  tasks that need none);
- right-args: tasks needing tools whose every expected call was made with matching
  arguments;
- task-success: tasks whose expected calls were made in order, whose answer holds what
  it must, whose workspace ends as it should, and which ended with an answer.

With a meter, every model call is accounted against the user who started the
evaluation and counts against their token quota: a quota used up before the first task
refuses the evaluation, one reached during a task stops it (`QuotaExceeded` out of `run`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from orchestrator.agents import BUILTIN_AGENTS
from orchestrator.core.config import Settings
from orchestrator.core.errors import OrchestratorError, QuotaExceeded, ToolError
from orchestrator.engine.events import ToolData
from orchestrator.engine.react import (
    ChatCall,
    Final,
    Limits,
    ModelClient,
    ReactEngine,
    ToolEvent,
    WrappedModels,
)
from orchestrator.engine.retrieval import ToolRetriever
from orchestrator.evals._suite import SUITE_VERSION, TASKS, EvalTask
from orchestrator.evals._tools import EVAL_TOOLS
from orchestrator.llm.base import ChatMessage, GenerationOptions, StreamChunk, ToolCall
from orchestrator.tools.base import Risk, ToolContext
from orchestrator.tools.registry import ToolRegistry

TASK_ITERATIONS = 6
TASK_SECONDS = 300.0
NOT_HERE = frozenset({Risk.EXEC, Risk.NETWORK})


class CallRecord(BaseModel):
    """One call a task's turn made, after any repair."""

    tool: str
    arguments: dict[str, Any]
    valid: bool
    status: str
    result: str = ""


class TaskResult(BaseModel):
    """One task's outcome."""

    id: str
    category: str
    calls: list[CallRecord] = Field(default_factory=list)
    invalid_calls: int = 0  # malformed calls the model wrote (never reached a tool)
    repairs: int = 0
    answer: str = ""
    right_tool: bool = False
    right_args: bool | None = None  # None: the task needs no tool
    success: bool = False
    tokens: int = 0
    seconds: float = 0.0
    offered: list[list[str]] = Field(default_factory=list)  # tools offered at each step
    error: str | None = None

    @property
    def attempted(self) -> int:
        return len(self.calls) + self.invalid_calls

    @property
    def valid(self) -> int:
        return sum(1 for c in self.calls if c.valid)


class EvalReport(BaseModel):
    """A model's scores on one suite version; the rates are ratios from 0 to 1."""

    model: str
    suite_version: str = SUITE_VERSION
    tasks: int
    valid_calls: float
    right_tool: float
    right_args: float
    task_success: float
    tokens: int
    seconds: float
    retrieval: bool = False
    repair: bool = False
    results: list[TaskResult] = Field(default_factory=list)

    @classmethod
    def from_results(
        cls, model: str, results: list[TaskResult], *, retrieval: bool, repair: bool
    ) -> EvalReport:
        attempted = sum(r.attempted for r in results)
        with_tools = [r for r in results if r.right_args is not None]
        return cls(
            model=model,
            tasks=len(results),
            valid_calls=_ratio(sum(r.valid for r in results), attempted),
            right_tool=_ratio(sum(r.right_tool for r in results), len(results)),
            right_args=_ratio(sum(bool(r.right_args) for r in with_tools), len(with_tools)),
            task_success=_ratio(sum(r.success for r in results), len(results)),
            tokens=sum(r.tokens for r in results),
            seconds=round(sum(r.seconds for r in results), 2),
            retrieval=retrieval,
            repair=repair,
            results=results,
        )


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


class CallMeter(Protocol):
    """Accounts an evaluation's model calls (`usage.UsageMeter`)."""

    async def admit(self) -> None:
        """Raise `QuotaExceeded` when the evaluation may not start."""
        ...

    def wrap(self, models: ModelClient) -> ModelClient:
        """`models` with each call accounted (and `QuotaExceeded` once over the quota)."""
        ...


class _Seeded(WrappedModels):
    """The model client with fixed sampling (temperature 0, one seed) for repeatable runs."""

    def stream(self, call: ChatCall) -> AsyncIterator[StreamChunk]:
        fixed = call.options or GenerationOptions(temperature=0.0, seed=0)
        return replace(call, options=fixed).send(self.models)


class _Toolbox:
    """The engine's tool runner for one task: real tools in the task's workspace."""

    def __init__(self, registry: ToolRegistry, context: ToolContext) -> None:
        self.registry = registry
        self.context = context
        self.records: list[CallRecord] = []

    async def run(self, call: ToolCall, key: str) -> AsyncGenerator[ToolEvent, None]:
        yield ToolData(call_id=call.id, name=call.name, params=call.arguments, status="started")
        valid, status = False, "failed"
        try:
            tool = self.registry.get(call.name)
            arguments = tool.validate(call.arguments)
            valid = True
            if tool.risk in NOT_HERE:
                raise ToolError(f"{call.name} is not available in this workspace")
            result, status = await tool(self.context, arguments), "finished"
        except OrchestratorError as exc:
            result = exc.message
        except Exception as exc:  # a broken tool is the tool's failure, not the model's
            result = f"the tool {call.name} crashed ({type(exc).__name__})"
        self.records.append(
            CallRecord(
                tool=call.name,
                arguments=call.arguments,
                valid=valid,
                status=status,
                result=result[:2000],
            )
        )
        yield ToolData(
            call_id=call.id, name=call.name, params=call.arguments, status=status, result=result
        )


def score(task: EvalTask, result: TaskResult, workspace: Path, answered: bool) -> TaskResult:
    """Fill in right-tool, right-args and success from the calls, answer and workspace."""
    calls = [(c.tool, c.arguments) for c in result.calls]
    if not task.expect:
        result.right_tool = result.attempted == 0
        result.right_args = None
        expected_ok = result.right_tool
    else:
        result.right_tool = bool(calls) and calls[0][0] == task.expect[0].tool
        result.right_args = all(any(e.matches(n, a) for n, a in calls) for e in task.expect)
        position, expected_ok = 0, True
        for expect in task.expect:  # in order: each after the previous match
            while position < len(calls) and not expect.matches(*calls[position]):
                position += 1
            if position == len(calls):
                expected_ok = False
                break
            position += 1
    result.success = (
        answered
        and result.error is None
        and expected_ok
        and task.answer_ok(result.answer)
        and (task.check is None or task.check(workspace))
    )
    return result


class EvalRunner:
    """Runs tasks of the suite on models through a model client."""

    def __init__(
        self,
        settings: Settings,
        models: ModelClient,
        *,
        registry: ToolRegistry | None = None,
        retriever: ToolRetriever | None = None,
        repair: bool = False,
        max_seconds: float = TASK_SECONDS,
        meter: CallMeter | None = None,
        max_iterations: int = TASK_ITERATIONS,
    ) -> None:
        self.settings = settings
        self.models: ModelClient = _Seeded(models)
        self.meter = meter
        base = registry if registry is not None else ToolRegistry.from_entry_points()
        self.registry = base.extended(EVAL_TOOLS)
        self.retriever = retriever
        self.repair = repair
        self.max_seconds = max_seconds
        self.max_iterations = max_iterations  # fewer only to keep a slow test short
        self.system_prompt = BUILTIN_AGENTS[0].system_prompt

    async def run(
        self,
        model: str,
        tasks: tuple[EvalTask, ...] = TASKS,
        on_task: Callable[[TaskResult], None] | None = None,
    ) -> EvalReport:
        """Every task in order; `on_task` hears of each as it ends. `QuotaExceeded` (the
        meter's) before the first task, or instead of the task that reached the quota."""
        models = self.models
        if self.meter is not None:
            await self.meter.admit()
            models = self.meter.wrap(models)
        results = []
        for task in tasks:
            result = await self.run_task(model, task, models)
            results.append(result)
            if on_task is not None:
                on_task(result)
        return EvalReport.from_results(
            model, results, retrieval=self.retriever is not None, repair=self.repair
        )

    async def run_task(
        self, model: str, task: EvalTask, models: ModelClient | None = None
    ) -> TaskResult:
        """One task in a fresh workspace, scored (through `models`, metered, if given)."""
        with tempfile.TemporaryDirectory(prefix="orch-eval-") as tmp:
            root = Path(tmp)
            for name, content in task.files.items():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                (root / name).write_text(content)
            toolbox = _Toolbox(
                self.registry, ToolContext(user_id=0, workspace=root, settings=self.settings)
            )
            engine = ReactEngine(
                models or self.models, toolbox, retriever=self.retriever, repair=self.repair
            )
            messages = [
                ChatMessage(role="system", content=self.system_prompt),
                ChatMessage(role="user", content=task.prompt),
            ]
            result = TaskResult(id=task.id, category=task.category)
            final: Final | None = None
            started = time.perf_counter()
            try:
                async for event in engine.run(
                    messages,
                    model=model,
                    tools=self.registry.specs(),
                    limits=Limits(max_iterations=self.max_iterations, max_seconds=self.max_seconds),
                ):
                    if isinstance(event, Final):
                        final = event
            except QuotaExceeded:
                raise  # the user's quota, not the model's failure: the evaluation stops
            except OrchestratorError as exc:
                result.error = f"{exc.code}: {exc.message}"
            result.seconds = round(time.perf_counter() - started, 3)
            result.calls = toolbox.records
            if final is not None:
                result.answer = final.content
                result.tokens = final.tokens
                result.repairs = final.repairs
                result.offered = final.offered
                result.invalid_calls = sum(
                    1 for m in final.messages if m.role == "tool" and m.name == "invalid_tool_call"
                )
            answered = final is not None and final.stop_reason == "answer"
            return score(task, result, root, answered)
