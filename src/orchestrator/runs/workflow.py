"""Autonomous runs: SPEC -> PLAN -> EXECUTE -> VERIFY -> (REPAIR -> EXECUTE -> VERIFY)*.

Each phase's output is a pydantic model the model must fill (JSON schema, constrained
decoding where the backend allows it). After every phase and every finished step the
run's checkpoint is written together with the event that announces it, so a run that
restarts skips what was done, re-runs only the unfinished step (whose finished tool
calls are replayed from their records, never run or logged twice), and its event log
goes on from the next `seq`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from orchestrator.agents import AgentSpec
from orchestrator.core.errors import OrchestratorError
from orchestrator.db.models import Run
from orchestrator.engine.events import ErrorData, PhaseData, PhaseName, StepData
from orchestrator.engine.react import ModelClient
from orchestrator.llm.base import ChatMessage, TextDelta
from orchestrator.runs.chat import AgentTurn
from orchestrator.runs.log import RunChanges, RunWriter
from orchestrator.runs.processor import Outcome

Text = Annotated[str, StringConstraints(max_length=2000)]
MAX_REPAIRS = 2
STRUCTURED_ATTEMPTS = 2


class Spec(BaseModel):
    """SPEC: what done looks like."""

    goal: Text
    acceptance_criteria: list[Text] = Field(min_length=1, max_length=10)


class Step(BaseModel):
    title: Annotated[str, StringConstraints(max_length=200)]
    instruction: Text


class Plan(BaseModel):
    """PLAN (and REPAIR): ordered steps."""

    steps: list[Step] = Field(min_length=1, max_length=10)


class Verdict(BaseModel):
    """VERIFY: do the results meet the criteria?"""

    # Always sent with its defaults: the schema of what is sent says so (the web app's types).
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    passed: bool
    failed_steps: list[int] = Field(default_factory=list, max_length=10)  # 1-based
    notes: Text = ""


class Checkpoint(BaseModel):
    """Everything a resumed run needs; stored on the run row."""

    spec: Spec | None = None
    steps: list[Step] = Field(default_factory=list)
    results: dict[int, str] = Field(default_factory=dict)  # step index -> its answer
    attempt: int = 0  # 0 first pass; n after the n-th repair
    verdict: Verdict | None = None
    tools_used: list[str] = Field(default_factory=list)


class WorkflowFailed(OrchestratorError):
    code = "workflow_failed"


M = TypeVar("M", bound=BaseModel)


@dataclass
class Workflow:
    """The `workflow` kind of run."""

    turn: AgentTurn
    models: ModelClient
    agents: Callable[[str], Awaitable[AgentSpec]]

    async def __call__(self, run: Run, writer: RunWriter) -> Outcome:
        agent = await self.agents(run.agent)
        state = Checkpoint.model_validate(run.checkpoint or {})
        if state.spec is None:
            await self._phase(run, writer, state, "spec", Spec, self._spec_prompt(run), _set_spec)
        if not state.steps:
            await self._phase(
                run, writer, state, "plan", Plan, self._plan_prompt(run, state), _set_plan
            )
        while True:
            if state.verdict is None:
                error = await self._execute(run, writer, agent, state)
                if error is not None:
                    return Outcome("failed", self._report(state), state.tools_used, error=error)
                await self._phase(
                    run,
                    writer,
                    state,
                    "verify",
                    Verdict,
                    self._verify_prompt(run, state),
                    _set_verdict,
                )
            assert state.verdict is not None
            if state.verdict.passed:
                return Outcome("succeeded", self._report(state), state.tools_used)
            if state.attempt >= MAX_REPAIRS:
                error = ErrorData(
                    code="verification_failed",
                    message="the results still fail "
                    f"verification after {MAX_REPAIRS} repairs: {state.verdict.notes}",
                )
                return Outcome("failed", self._report(state), state.tools_used, error=error)
            await self._phase(
                run, writer, state, "repair", Plan, self._repair_prompt(run, state), _add_repair
            )

    async def _execute(
        self, run: Run, writer: RunWriter, agent: AgentSpec, state: Checkpoint
    ) -> ErrorData | None:
        """Run every step without a result, in order; each answer is checkpointed."""
        pending = [i for i in range(len(state.steps)) if i not in state.results]
        await writer.emit(
            PhaseData(
                phase="execute", status="started", output={"steps": [i + 1 for i in pending]}
            ),
            RunChanges(phase="execute"),
        )
        for index in pending:
            step = state.steps[index]
            await writer.emit(StepData(index=index + 1, title=step.title, status="started"))
            messages = [ChatMessage(role="user", content=self._step_prompt(run, state, index))]
            result = await self.turn.run(run, writer, agent, messages, key_prefix=f"step{index}-")
            if result.error is not None:
                await writer.emit(
                    StepData(
                        index=index + 1, title=step.title, status="failed", result=result.content
                    )
                )
                return result.error
            state.results[index] = result.content
            state.tools_used.extend(result.tools_used)
            await writer.emit(
                StepData(
                    index=index + 1, title=step.title, status="finished", result=result.content
                ),
                RunChanges(checkpoint=state.model_dump(mode="json")),
            )
        await writer.emit(
            PhaseData(phase="execute", status="finished", output={"completed": len(state.results)})
        )
        return None

    async def _phase(
        self,
        run: Run,
        writer: RunWriter,
        state: Checkpoint,
        phase: PhaseName,
        schema: type[M],
        prompt: str,
        apply: Callable[[Checkpoint, M], None],
    ) -> None:
        """Ask for one structured output, apply it to the state, checkpoint and announce it."""
        await writer.emit(PhaseData(phase=phase, status="started"), RunChanges(phase=phase))
        output = await self._structured(run, schema, prompt)
        apply(state, output)
        await writer.emit(
            PhaseData(phase=phase, status="finished", output=output.model_dump()),
            RunChanges(checkpoint=state.model_dump(mode="json")),
        )

    async def _structured(self, run: Run, schema: type[M], prompt: str) -> M:
        """The model's answer as `schema`; a malformed one is sent back once to be fixed."""
        json_schema = schema.model_json_schema()
        messages = [
            ChatMessage(
                role="system",
                content="Answer with one JSON object only, matching "
                f"this JSON schema:\n{json.dumps(json_schema)}",
            ),
            ChatMessage(role="user", content=prompt),
        ]
        problem = ""
        for _ in range(STRUCTURED_ATTEMPTS):
            text = ""
            stream = self.models.chat(run.model, messages, None, json_schema=json_schema)
            async with aclosing(stream) as chunks:  # type: ignore[type-var]
                async for chunk in chunks:
                    if isinstance(chunk, TextDelta):
                        text += chunk.text
            try:
                return schema.model_validate_json(_json_object(text))
            except (ValidationError, ValueError) as exc:
                problem = str(exc)[:500]
                messages += [
                    ChatMessage(role="assistant", content=text),
                    ChatMessage(
                        role="user",
                        content=f"That was not valid: {problem}. "
                        "Answer again with the JSON object only.",
                    ),
                ]
        raise WorkflowFailed(
            f"the model did not produce a valid {schema.__name__.lower()}: {problem}"
        )

    @staticmethod
    def _spec_prompt(run: Run) -> str:
        return (
            f"Goal: {run.goal}\n\nRestate the goal precisely and list the acceptance "
            "criteria that will show it is reached."
        )

    @staticmethod
    def _goal(run: Run, state: Checkpoint) -> str:
        """The user's goal verbatim, then SPEC's restatement and criteria: a small model's
        restatement drops paths, names and exact contents the user gave, so it is only ever
        added to the goal, never put in its place."""
        assert state.spec is not None
        return (
            f"The user's goal, in their own words:\n{run.goal}\n\n"
            f"Restated: {state.spec.goal}\nAcceptance criteria:\n"
            + "\n".join(f"- {c}" for c in state.spec.acceptance_criteria)
        )

    @staticmethod
    def _plan_prompt(run: Run, state: Checkpoint) -> str:
        return Workflow._goal(run, state) + "\n\nWrite the ordered steps to reach it (at most 10)."

    @staticmethod
    def _step_prompt(run: Run, state: Checkpoint, index: int) -> str:
        done = "\n".join(
            f"Step {i + 1} result: {state.results[i]}" for i in sorted(state.results) if i < index
        )
        step = state.steps[index]
        return (
            f"{Workflow._goal(run, state)}\n{done}\n\nNow do step {index + 1}: "
            f"{step.title}\n{step.instruction}\nAnswer with the step's result."
        )

    @staticmethod
    def _verify_prompt(run: Run, state: Checkpoint) -> str:
        results = "\n".join(
            f"Step {i + 1} ({state.steps[i].title}): {state.results.get(i, '')}"
            for i in range(len(state.steps))
        )
        return (
            Workflow._goal(run, state)
            + f"\n\nResults:\n{results}\n\nDo the results meet the user's goal and every "
            "criterion? List the numbers of the steps that failed."
        )

    @staticmethod
    def _repair_prompt(run: Run, state: Checkpoint) -> str:
        assert state.verdict is not None
        failed = ", ".join(str(i) for i in state.verdict.failed_steps) or "unknown"
        return (
            Workflow._verify_prompt(run, state) + f"\n\nVerification failed (steps {failed}): "
            f"{state.verdict.notes}\nWrite the new steps that fix this."
        )

    @staticmethod
    def _report(state: Checkpoint) -> str:
        lines = [f"# {state.spec.goal}" if state.spec else "# Report"]
        if state.spec:
            lines += [
                "",
                "## Acceptance criteria",
                *(f"- {c}" for c in state.spec.acceptance_criteria),
            ]
        lines += ["", "## Steps"]
        for i, step in enumerate(state.steps):
            lines.append(f"{i + 1}. **{step.title}**: {state.results.get(i, '(not done)')}")
        if state.verdict:
            lines += [
                "",
                "## Verification",
                ("passed" if state.verdict.passed else "failed")
                + (f": {state.verdict.notes}" if state.verdict.notes else ""),
            ]
        return "\n".join(lines)


def _set_spec(state: Checkpoint, spec: Spec) -> None:
    state.spec = spec


def _set_plan(state: Checkpoint, plan: Plan) -> None:
    state.steps = list(plan.steps)


def _set_verdict(state: Checkpoint, verdict: Verdict) -> None:
    state.verdict = verdict


def _add_repair(state: Checkpoint, plan: Plan) -> None:
    """Repair steps run next; the verdict is cleared so they are verified again."""
    state.steps.extend(plan.steps)
    state.attempt += 1
    state.verdict = None


def _json_object(text: str) -> str:
    """The outermost {...} of a reply (models wrap JSON in prose or fences)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the answer")
    return text[start : end + 1]
