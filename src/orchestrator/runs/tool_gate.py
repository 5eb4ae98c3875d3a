"""Every tool call an agent makes passes here: allowlist, enabled state, approval policy,
the audit record (written before and after the call), and reuse of a call that had
already finished before a restart.

Taint: once a tool declared `untrusted` (web pages, MCP results, uploads...) has
finished in a run, the run is tainted - stored on its row, so that it holds for the
rest of the run, across workflow steps, restarts and delegations - and every later
`exec` or `network` call waits for the user's approval even where the policy would
let it run, its approval naming the content that tainted the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.changes import ChangeRecorder
from orchestrator.core.errors import ToolError
from orchestrator.db.models import Run, ToolCallRecord, utcnow
from orchestrator.engine.events import ApprovalRequiredData, StatusData, TaintSource, ToolData
from orchestrator.engine.react import ToolEvent
from orchestrator.llm.base import ToolCall
from orchestrator.runs.approvals import ApprovalBroker
from orchestrator.tools.base import Tool, ToolContext
from orchestrator.tools.registry import ToolRegistry

log = logging.getLogger(__name__)
# The ways out: what a tainted run may no longer do without asking.
TAINT_GUARDED_RISKS = frozenset({"exec", "network"})


@dataclass
class ToolGate:
    """Runs one run's tool calls under policy; an engine `ToolRunner`."""

    registry: ToolRegistry
    sessions: async_sessionmaker[AsyncSession]
    broker: ApprovalBroker
    context: ToolContext
    approval_risks: frozenset[str]
    approval_timeout: float
    allowed: frozenset[str] | None = None  # the agent's allowlist; None: every tool
    disabled: frozenset[str] = frozenset()
    refused_risks: frozenset[str] = frozenset()  # by role: never run, never asked
    recorder: ChangeRecorder | None = None  # records what each call changes in the workspace
    tainted_by: TaintSource | None = None  # the first untrusted content this run read

    @property
    def run_id(self) -> str:
        assert self.context.run_id is not None
        return self.context.run_id

    def available(self) -> list[Tool]:
        """The tools this run may offer to its model."""
        return [
            t
            for t in self.registry
            if t.name not in self.disabled and (self.allowed is None or t.name in self.allowed)
        ]

    async def run(self, call: ToolCall, key: str) -> AsyncGenerator[ToolEvent, None]:
        """Check, maybe ask, record and run one call; the last event is its outcome."""

        def outcome(status: str, result: str, ms: float | None = None) -> ToolData:
            return ToolData(
                call_id=call.id,
                name=call.name,
                params=call.arguments,
                status=status,
                result=result,
                duration_ms=ms,
            )

        previous = await self._recorded(key)
        if previous is not None and previous.status in {"finished", "failed", "denied"}:
            if previous.status == "finished" and call.name in self.registry:
                replayed_tool = self.registry.get(call.name)
                # A restarted run stays tainted.
                if replayed_tool.brings_untrusted(previous.arguments):
                    await self._taint(replayed_tool, previous.arguments)
            replay = outcome(previous.status, previous.result or "", previous.duration_ms)
            yield replay.model_copy(update={"replayed": True})
            return
        try:
            tool = self._tool(call.name)
            arguments = tool.validate(call.arguments)
        except ToolError as exc:
            yield outcome("failed", exc.message)
            return
        if tool.risk.value in self.refused_risks:
            why = f"{tool.risk.value} tools are not allowed for this account"
            await self._record(key, call, "denied", "refused", f"refused: {why}", None)
            yield outcome("denied", f"Refused: {why}. Do not retry this call.")
            return
        decision = "auto"
        taint = await self.taint() if tool.risk.value in TAINT_GUARDED_RISKS else None
        if tool.risk.value in self.approval_risks or taint is not None:
            approval_id = await self.broker.create(
                run_id=self.run_id,
                user_id=self.context.user_id,
                tool=tool.name,
                params=call.arguments,
                risk=tool.risk.value,
                tainted_by=taint.model_dump() if taint is not None else None,
            )
            # Waiting is recorded before the user hears of the approval.
            yield StatusData(status="waiting", reason=f"approval for {tool.name}")
            yield ApprovalRequiredData(
                approval_id=approval_id,
                call_id=call.id,
                tool=tool.name,
                params=call.arguments,
                risk=tool.risk.value,
                tainted_by=taint,
            )
            decision = await self.broker.wait(approval_id, self.approval_timeout)
            yield StatusData(status="running")
            if decision != "approved":
                why = "the user denied it" if decision == "denied" else "nobody approved it in time"
                await self._record(key, call, "denied", decision, f"refused: {why}", None)
                yield outcome("denied", f"Refused: {why}. Do not retry this call.")
                return
        record_id = await self._record(key, call, "started", decision, None, None)
        yield outcome("started", "")
        started = time.perf_counter()
        tracking = await self.recorder.before(tool, arguments) if self.recorder else None
        try:
            result, status = await tool(self.context, arguments), "finished"
        except ToolError as exc:
            result, status = exc.message, "failed"
        except Exception as exc:  # a broken tool must not take the run down with it
            log.exception("tool %s crashed", tool.name)
            result, status = f"the tool {tool.name} crashed ({type(exc).__name__})", "failed"
        finally:
            if tracking is not None and self.recorder is not None:
                await self.recorder.after(tracking)  # a failed command may have changed files
        duration = (time.perf_counter() - started) * 1000
        if status == "finished" and tool.brings_untrusted(arguments):
            await self._taint(tool, arguments)
        await self._finish(record_id, status, result, duration)
        yield outcome(status, result, round(duration, 2))

    async def taint(self) -> TaintSource | None:
        """What tainted this run, if anything (read from its row: a child run may have)."""
        if self.tainted_by is None:
            async with self.sessions() as db:
                stored = await db.scalar(select(Run.tainted_by).where(Run.id == self.run_id))
            if stored:
                self.tainted_by = TaintSource.model_validate(stored)
        return self.tainted_by

    async def _taint(self, tool: Tool, arguments: dict[str, Any]) -> None:
        """Mark the run tainted by this call's content (the first such call is kept)."""
        if await self.taint() is not None:
            return
        self.tainted_by = TaintSource(tool=tool.name, source=tool.source_of(arguments))
        async with self.sessions() as db:
            await db.execute(
                update(Run)
                .where(Run.id == self.run_id)
                .values(tainted_by=self.tainted_by.model_dump())
            )
            await db.commit()

    def _tool(self, name: str) -> Tool:
        tool = self.registry.get(name)
        if name in self.disabled or (self.allowed is not None and name not in self.allowed):
            raise ToolError(f"the tool {name!r} is not available to this agent")
        return tool

    async def _recorded(self, key: str) -> ToolCallRecord | None:
        async with self.sessions() as db:
            return await db.scalar(
                select(ToolCallRecord).where(
                    ToolCallRecord.run_id == self.run_id, ToolCallRecord.call_key == key
                )
            )

    async def _record(
        self,
        key: str,
        call: ToolCall,
        status: str,
        decision: str,
        result: str | None,
        duration: float | None,
    ) -> str:
        async with self.sessions() as db:
            record = ToolCallRecord(
                run_id=self.run_id,
                call_key=key,
                user_id=self.context.user_id,
                tool=call.name,
                arguments=call.arguments,
                status=status,
                decision=decision,
                result=result,
                duration_ms=duration,
                finished_at=utcnow() if status != "started" else None,
            )
            db.add(record)
            await db.commit()
            return record.id

    async def _finish(self, record_id: str, status: str, result: str, duration: float) -> None:
        async with self.sessions() as db:
            await db.execute(
                update(ToolCallRecord)
                .where(ToolCallRecord.id == record_id)
                .values(status=status, result=result, duration_ms=duration, finished_at=utcnow())
            )
            await db.commit()
