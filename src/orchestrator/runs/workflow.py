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
from sqlalchemy import select

from orchestrator.agents import AgentSpec
from orchestrator.core.errors import Conflict, OrchestratorError
from orchestrator.db.models import Run, ToolCallRecord
from orchestrator.engine.events import ErrorData, PhaseData, PhaseName, StepData
from orchestrator.engine.react import ModelClient
from orchestrator.llm.base import ChatMessage, TextDelta
from orchestrator.observability import Tracing
from orchestrator.runs.chat import AgentTurn
from orchestrator.runs.log import RunChanges, RunWriter
from orchestrator.runs.processor import Outcome

Text = Annotated[str, StringConstraints(max_length=2000)]
STRUCTURED_ATTEMPTS = 2
EVIDENCE_CHARS = 12_000  # step results and tool outputs shown to the verifier, at most
TOOL_OUTPUT_CHARS = 1500  # of each tool output
MIN_QUOTE = 2  # characters a quote needs to count as evidence ("42")


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


class CriterionCheck(BaseModel):
    """One acceptance criterion judged: met only with a quote from the evidence."""

    criterion: Text
    met: bool
    quote: Text = ""  # copied verbatim from the step results or tool outputs


class Verdict(BaseModel):
    """VERIFY: do the results meet the criteria? `passed` is recomputed from `criteria`:
    a criterion marked met whose quote is not found in the evidence counts as not met."""

    # Always sent with its defaults: the schema of what is sent says so (the web app's types).
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    passed: bool
    criteria: list[CriterionCheck] = Field(default_factory=list, max_length=10)
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


class NothingToVerify(Conflict):
    code = "nothing_to_verify"


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
                await self.verify(run, writer, agent, state)
            assert state.verdict is not None
            if state.verdict.passed:
                return Outcome("succeeded", self._report(state), state.tools_used)
            cycles = self.turn.settings.max_repair_cycles
            if state.attempt >= cycles:
                error = ErrorData(
                    code="verification_failed",
                    message="the results still fail "
                    f"verification after {cycles} repairs: {state.verdict.notes}",
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
        with self._tracing.phase("execute"):
            error = await self._steps(run, writer, agent, state, pending)
        if error is not None:
            return error
        await writer.emit(
            PhaseData(phase="execute", status="finished", output={"completed": len(state.results)})
        )
        return None

    @property
    def _tracing(self) -> Tracing:
        return self.turn.tracing or Tracing()

    async def _steps(
        self, run: Run, writer: RunWriter, agent: AgentSpec, state: Checkpoint, pending: list[int]
    ) -> ErrorData | None:
        """Each pending step as one agent turn; the first that fails ends the phase."""
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
        return None

    async def verify(
        self, run: Run, writer: RunWriter, agent: AgentSpec, state: Checkpoint
    ) -> Verdict:
        """VERIFY by the verifier model (the agent's `verifier_model`, else VERIFIER_MODEL,
        else the run's model), on the step results and the run's tool outputs as evidence;
        every criterion marked met must quote that evidence."""
        evidence = await self._evidence(run, state)
        model = agent.verifier_model or self.turn.settings.verifier_model or run.model

        def checked(current: Checkpoint, verdict: Verdict) -> None:
            _set_verdict(current, check_quotes(verdict, current, evidence))

        await self._phase(
            run,
            writer,
            state,
            "verify",
            Verdict,
            self._verify_prompt(run, state, evidence),
            checked,
            model=model,
        )
        assert state.verdict is not None
        return state.verdict

    async def verify_again(self, run: Run, writer: RunWriter) -> Verdict:
        """VERIFY a finished run once more; new `phase` events go on the same log."""
        agent = await self.agents(run.agent)
        state = Checkpoint.model_validate(run.checkpoint or {})
        if state.spec is None or not state.steps:
            raise NothingToVerify("the run never got to a plan: there is nothing to verify")
        try:
            return await self.verify(run, writer, agent, state)
        except WorkflowFailed as exc:  # no usable verdict: that is a failed verification
            verdict = Verdict(passed=False, notes=exc.message[:2000])
            state.verdict = verdict
            await writer.emit(
                PhaseData(phase="verify", status="finished", output=verdict.model_dump()),
                RunChanges(checkpoint=state.model_dump(mode="json")),
            )
            return verdict

    async def _evidence(self, run: Run, state: Checkpoint) -> str:
        """The step results, then each tool call's output, as the verifier sees them."""
        async with self.turn.sessions() as db:
            calls = await db.scalars(
                select(ToolCallRecord)
                .where(ToolCallRecord.run_id == run.id, ToolCallRecord.status != "started")
                .order_by(ToolCallRecord.created_at, ToolCallRecord.call_key)
            )
            lines = [
                f"Step {i + 1} result ({state.steps[i].title}): {state.results[i]}"
                for i in sorted(state.results)
                if i < len(state.steps)
            ]
            for call in calls:
                output = (call.result or "")[:TOOL_OUTPUT_CHARS]
                arguments = json.dumps(call.arguments, ensure_ascii=False)[:300]
                lines.append(f"Tool {call.tool} {arguments} ({call.status}): {output}")
        return "\n".join(lines)[:EVIDENCE_CHARS]

    async def _phase(
        self,
        run: Run,
        writer: RunWriter,
        state: Checkpoint,
        phase: PhaseName,
        schema: type[M],
        prompt: str,
        apply: Callable[[Checkpoint, M], None],
        *,
        model: str | None = None,
    ) -> None:
        """Ask for one structured output, apply it to the state, checkpoint and announce it."""
        await writer.emit(PhaseData(phase=phase, status="started"), RunChanges(phase=phase))
        with self._tracing.phase(phase):
            output = await self._structured(run, writer, schema, prompt, model=model or run.model)
        apply(state, output)
        if isinstance(output, Verdict):  # announce what counts: the checked verdict
            output = state.verdict  # type: ignore[assignment]
        await writer.emit(
            PhaseData(phase=phase, status="finished", output=output.model_dump()),
            RunChanges(checkpoint=state.model_dump(mode="json")),
        )

    async def _structured(
        self, run: Run, writer: RunWriter, schema: type[M], prompt: str, *, model: str | None
    ) -> M:
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
        models = await self.turn.metered(run, writer, self.models)
        for _ in range(STRUCTURED_ATTEMPTS):
            text = ""
            stream = models.chat(model, messages, None, json_schema=json_schema)
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
    def _verify_prompt(run: Run, state: Checkpoint, evidence: str) -> str:
        return (
            Workflow._goal(run, state)
            + f"\n\nEvidence (the steps' results and the tools' outputs):\n{evidence}\n\n"
            "For each acceptance criterion, in order, say whether it is met. A criterion is "
            "met only if you can quote the evidence that shows it: copy the words exactly "
            "into `quote`. List the numbers of the steps that failed."
        )

    @staticmethod
    def _repair_prompt(run: Run, state: Checkpoint) -> str:
        assert state.verdict is not None
        failed = ", ".join(str(i) for i in state.verdict.failed_steps) or "unknown"
        unmet = "; ".join(c.criterion for c in state.verdict.criteria if not c.met)
        results = "\n".join(
            f"Step {i + 1} ({state.steps[i].title}): {state.results.get(i, '')}"
            for i in range(len(state.steps))
        )
        return (
            Workflow._goal(run, state)
            + f"\n\nResults:\n{results}\n\nVerification failed (steps {failed}; "
            f"criteria not shown met: {unmet or 'none named'}): {state.verdict.notes}\n"
            "Write the new steps that fix this."
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


def _plain(text: str) -> str:
    return " ".join(text.lower().replace("`", "").replace('"', "").split())


def check_quotes(verdict: Verdict, state: Checkpoint, evidence: str) -> Verdict:
    """The verdict as it counts: each of the spec's criteria (in order) is met only if the
    verifier marked it met with a quote found in the evidence (case and spacing aside);
    `passed` only if every criterion is met."""
    wanted = state.spec.acceptance_criteria if state.spec else []
    haystack = _plain(evidence)
    checks: list[CriterionCheck] = []
    for index, criterion in enumerate(wanted):
        given = verdict.criteria[index] if index < len(verdict.criteria) else None
        quote = given.quote.strip() if given else ""
        found = len(_plain(quote)) >= MIN_QUOTE and _plain(quote) in haystack
        checks.append(
            CriterionCheck(
                criterion=criterion, met=bool(given and given.met and found), quote=quote
            )
        )
    unquoted = [
        c.criterion for c, g in zip(checks, verdict.criteria, strict=False) if g.met and not c.met
    ]
    notes = verdict.notes
    if unquoted:
        notes = (notes + " " if notes else "") + (
            "Marked met without a quote found in the evidence: " + "; ".join(unquoted)
        )[:1500]
    passed = verdict.passed and bool(checks) and all(c.met for c in checks)
    return Verdict(
        passed=passed, criteria=checks, failed_steps=verdict.failed_steps, notes=notes[:2000]
    )


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
