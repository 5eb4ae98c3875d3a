"""`orchestrator run "TASK"`: a run in the terminal, its events printed as they come."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Literal

from rich.console import Console
from rich.markup import escape
from sqlalchemy import select

from orchestrator.core.config import Settings
from orchestrator.core.errors import NotFound, OrchestratorError
from orchestrator.db.models import User
from orchestrator.engine.events import (
    ApprovalRequiredEvent,
    CompleteEvent,
    ErrorEvent,
    PhaseEvent,
    RunEventOut,
    ThinkingEvent,
    TokenEvent,
    ToolData,
    ToolEvent,
)
from orchestrator.runtime import Runtime

RESULT_PREVIEW = 300


class EventPrinter:
    """Readable terminal output for run events."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.streaming: str | None = None  # "token" or "thinking" while a delta line is open

    def _end_stream(self) -> None:
        if self.streaming:
            self.console.print()
            self.streaming = None

    def show(self, event: RunEventOut) -> None:
        if isinstance(event, TokenEvent | ThinkingEvent):
            if self.streaming != event.type:
                self._end_stream()
                self.streaming = event.type
            style = "dim italic" if event.type == "thinking" else ""
            self.console.print(escape(event.data.text), end="", style=style, soft_wrap=True)
            return
        self._end_stream()
        if isinstance(event, ToolEvent):
            self._tool(event.data)
        elif isinstance(event, PhaseEvent):
            self.console.print(f"[bold magenta]── {event.data.phase} {event.data.status}[/]")
        elif isinstance(event, ApprovalRequiredEvent):
            data = event.data
            self.console.print(
                f"[yellow]? {data.tool} ({data.risk}) wants to run with "
                f"{escape(json.dumps(data.params))}[/]"
            )
            if taint := data.tainted_by:
                where = f": {taint.source}" if taint.source else ""
                self.console.print(
                    f"[yellow]  asked because this run read untrusted content with "
                    f"{taint.tool}{escape(where)}[/]"
                )
        elif isinstance(event, ErrorEvent):
            self.console.print(f"[red]error ({event.data.code}): {escape(event.data.message)}[/]")
        elif isinstance(event, CompleteEvent):
            status = event.data.status
            color = {"succeeded": "green", "cancelled": "yellow"}.get(status, "red")
            used = ", ".join(event.data.tools_used) or "none"
            self.console.print(f"[{color}]● {status}[/] (tools used: {used})")

    def _tool(self, data: ToolData) -> None:
        params = escape(json.dumps(data.params))
        if data.status == "started":
            self.console.print(f"[cyan]⚙ {data.name}[/] {params}")
            return
        result = escape((data.result or "").strip()[:RESULT_PREVIEW])
        took = f" ({data.duration_ms:.0f} ms)" if data.duration_ms is not None else ""
        color = "green" if data.status == "finished" else "red"
        self.console.print(f"  [{color}]{data.status}[/]{took}: {result}")


async def _pick_user(runtime: Runtime, username: str | None) -> User:
    async with runtime.sessions() as db:
        query = select(User).where(User.is_active)
        query = (
            query.where(User.username == username)
            if username
            else query.where(User.role == "admin")
        )
        user = await db.scalar(query.order_by(User.id).limit(1))
    if user is None:
        raise NotFound(
            f"no active user {username!r}"
            if username
            else "no admin account yet: create one with `orchestrator user create NAME --admin`"
        )
    return user


async def _answer_approvals(
    runtime: Runtime, user: User, event: ApprovalRequiredEvent, yes: bool, console: Console
) -> None:
    decision: Literal["approve", "deny"]
    if yes:
        decision = "approve"
    elif sys.stdin.isatty():
        reply = await asyncio.to_thread(console.input, "  approve? [y/N] ")
        decision = "approve" if reply.strip().lower() in {"y", "yes"} else "deny"
    else:
        decision = "deny"
    await runtime.runs.decide(user.id, event.data.approval_id, decision)


async def run_in_terminal(
    settings: Settings,
    task: str,
    *,
    agent: str,
    model: str | None,
    username: str | None,
    yes: bool,
    console: Console,
) -> int:
    """Run `task` to its end in this process; the exit code says how it ended."""
    runtime = Runtime.create(settings, execute_here=True)
    try:
        user = await _pick_user(runtime, username)
        run = await runtime.runs.start_run(user.id, task, agent=agent, model=model)
        console.print(f"[dim]run {run.id} · agent {run.agent} · as {user.username}[/]")
        printer = EventPrinter(console)
        status = "failed"
        try:
            with console.status("thinking…", spinner="dots") as spinner:
                async for event in runtime.runs.follow(run.id):
                    if event.type in {"token", "thinking", "tool", "complete"}:
                        spinner.stop()
                    printer.show(event)
                    if isinstance(event, ApprovalRequiredEvent):
                        await _answer_approvals(runtime, user, event, yes, console)
                    if isinstance(event, CompleteEvent):
                        status = event.data.status
        except (KeyboardInterrupt, asyncio.CancelledError):
            with contextlib.suppress(OrchestratorError):  # it may have ended meanwhile
                await runtime.runs.cancel(user.id, run.id)
            raise
        await runtime.runs.join(run.id)
        return 0 if status == "succeeded" else 1
    except OrchestratorError as exc:
        console.print(f"[red]{escape(exc.message)}[/]")
        return 2
    finally:
        await runtime.close()
