"""Developer tools in the command sandbox (no network): Python, git and the project's checks."""

from __future__ import annotations

import shlex
from typing import Annotated, Any

from pydantic import Field

from orchestrator.core.errors import ToolArgumentError, ToolError
from orchestrator.tools.base import Risk, ToolContext, tool
from orchestrator.tools.builtin import _checks
from orchestrator.tools.sandbox import CommandResult, ResourceLimits, SandboxedCommandRunner
from orchestrator.tools.workspace import MAX_PATH_LENGTH, split_relative

MAX_CODE_BYTES = 100_000
OUTPUT_TAIL = 6000
# Seconds each check may take (COMMAND_TIMEOUT does not cap these: test suites run longer).
CHECK_SECONDS = {"tests": 300.0, "lint": 120.0, "format": 120.0, "typecheck": 300.0, "build": 600.0}
_GIT = "git -c safe.directory='*' -c core.pager=cat -c color.ui=never"

SubPath = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=MAX_PATH_LENGTH,
        description="A file or folder relative to the workspace (default: all of it)",
    ),
]


def _quoted(path: str | None) -> str:
    if path is None:
        return ""
    parts = split_relative(path)
    return shlex.quote("/".join(parts) or ".")


async def _sandboxed(ctx: ToolContext, command: str, seconds: float | None = None) -> CommandResult:
    settings = ctx.settings
    limits = None
    if seconds is not None:
        settings = settings.model_copy(update={"command_timeout": seconds})
        limits = ResourceLimits(cpu_seconds=int(seconds) + 1)
    runner = SandboxedCommandRunner(settings, limits=limits)
    return await runner.run(command, ctx.workspace, on_output=ctx.on_output)


@tool(category="dev", risk=Risk.EXEC)
async def run_python(
    ctx: ToolContext,
    code: Annotated[
        str, Field(min_length=1, max_length=50_000, description="Python 3 source to run")
    ],
    timeout: Annotated[  # noqa: ASYNC109 - the tool's documented parameter
        float | None,
        Field(gt=0, le=3600, description="Seconds before it is stopped; capped by the server"),
    ] = None,
) -> dict[str, Any]:
    """Run Python code in the sandbox, in the workspace; answers its exit code and output."""
    if len(code.encode("utf-8")) > MAX_CODE_BYTES:
        raise ToolArgumentError(f"the code is over {MAX_CODE_BYTES} bytes; write it to a file")
    if "\x00" in code:
        raise ToolArgumentError("the code contains a NUL byte")
    _checks.require("python3")
    runner = SandboxedCommandRunner(ctx.settings)
    result = await runner.run(
        f"exec python3 -c {shlex.quote(code)}",
        ctx.workspace,
        timeout=timeout,
        on_output=ctx.on_output,
    )
    return result.model_dump(mode="json")


async def _git(ctx: ToolContext, arguments: str) -> dict[str, Any]:
    _checks.require("git")
    result = await _sandboxed(ctx, f"{_GIT} {arguments}")
    if result.exit_code != 0 and "not a git repository" in result.output:
        raise ToolError(
            "the workspace is not a git repository yet; git_commit creates one on its first commit"
        )
    return {"exit_code": result.exit_code, "output": result.output, "truncated": result.truncated}


@tool(category="dev", risk=Risk.EXEC)
async def git_status(ctx: ToolContext, path: SubPath = None) -> dict[str, Any]:
    """Show the git status of the workspace (branch, changed and untracked files)."""
    where = f" -- {_quoted(path)}" if path else ""
    return await _git(ctx, f"status --short --branch{where}")


@tool(category="dev", risk=Risk.EXEC)
async def git_diff(
    ctx: ToolContext,
    path: SubPath = None,
    staged: Annotated[bool, Field(description="Show staged changes instead")] = False,
) -> dict[str, Any]:
    """Show uncommitted changes in the workspace as a git diff."""
    where = f" -- {_quoted(path)}" if path else ""
    return await _git(ctx, f"diff{' --staged' if staged else ''}{where}")


@tool(category="dev", risk=Risk.EXEC)
async def git_log(
    ctx: ToolContext,
    path: SubPath = None,
    limit: Annotated[int, Field(ge=1, le=200, description="How many commits")] = 10,
) -> dict[str, Any]:
    """Show recent commits of the workspace's git history."""
    where = f" -- {_quoted(path)}" if path else ""
    return await _git(ctx, f"log --date=iso --format='%h %ad %an: %s' -n {limit}{where}")


@tool(category="dev", risk=Risk.EXEC)
async def git_commit(
    ctx: ToolContext,
    message: Annotated[str, Field(min_length=1, max_length=2000, description="Commit message")],
    paths: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=MAX_PATH_LENGTH)]] | None,
        Field(max_length=100, description="Only these files (default: every change)"),
    ] = None,
) -> dict[str, Any]:
    """Commit changes in the workspace with git (creating the repository if needed)."""
    targets = " ".join(_quoted(p) for p in paths) if paths else "-A"
    add = f"{_GIT} add -- {targets}" if paths else f"{_GIT} add -A"
    script = (
        f"{{ [ -d .git ] || git init -q -b main; }} && {add} && "
        f"{_GIT} -c user.name=orchestrator -c user.email=agent@orchestrator.local "
        f"commit -q -m {shlex.quote(message)} && {_GIT} log --oneline -n 1"
    )
    _checks.require("git")
    result = await _sandboxed(ctx, script)
    if result.exit_code != 0 and "nothing to commit" in result.output:
        raise ToolError("nothing to commit: the working tree has no changes")
    return {"exit_code": result.exit_code, "output": result.output}


async def _check(ctx: ToolContext, check: str, path: str | None, command: str | None) -> dict:
    sub = "/".join(split_relative(path)) if path else ""
    root = ctx.workspace / sub if sub else ctx.workspace
    if command is None:
        plan = _checks.detect(root, check)
        _checks.require(plan.program)
        command = plan.command
    script = f"cd {shlex.quote(sub)} && {command}" if sub else command
    seconds = min(CHECK_SECONDS[check], max(ctx.settings.command_timeout, CHECK_SECONDS[check]))
    result = await _sandboxed(ctx, script, seconds)
    summary, counts = _checks.summarize(result.output, result.exit_code, result.timed_out)
    tail = result.output[-OUTPUT_TAIL:]
    return {
        "command": command,
        "exit_code": result.exit_code,
        "passed": result.exit_code == 0,
        "summary": summary,
        "counts": counts,
        "output": tail,
        "timed_out": result.timed_out,
    }


CheckPath = Annotated[
    str | None,
    Field(min_length=1, max_length=MAX_PATH_LENGTH, description="The project folder (default: .)"),
]
CheckCommand = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=2000,
        description="The command to run instead of the detected one",
    ),
]


@tool(category="dev", risk=Risk.EXEC)
async def run_tests(
    ctx: ToolContext, path: CheckPath = None, command: CheckCommand = None
) -> dict[str, Any]:
    """Run the project's tests (pytest, npm test...); answers pass/fail counts and output."""
    return await _check(ctx, "tests", path, command)


@tool(category="dev", risk=Risk.EXEC)
async def run_lint(
    ctx: ToolContext, path: CheckPath = None, command: CheckCommand = None
) -> dict[str, Any]:
    """Run the project's linter (ruff, npm run lint...); answers the problems found."""
    return await _check(ctx, "lint", path, command)


@tool(category="dev", risk=Risk.EXEC)
async def run_format(
    ctx: ToolContext, path: CheckPath = None, command: CheckCommand = None
) -> dict[str, Any]:
    """Format the project's code in place (ruff format, npm run format...)."""
    return await _check(ctx, "format", path, command)


@tool(category="dev", risk=Risk.EXEC)
async def run_typecheck(
    ctx: ToolContext, path: CheckPath = None, command: CheckCommand = None
) -> dict[str, Any]:
    """Type-check the project (mypy, npm run typecheck...); answers the errors found."""
    return await _check(ctx, "typecheck", path, command)


@tool(category="dev", risk=Risk.EXEC)
async def run_build(
    ctx: ToolContext, path: CheckPath = None, command: CheckCommand = None
) -> dict[str, Any]:
    """Build the project (npm run build; Python: byte-compile every module)."""
    return await _check(ctx, "build", path, command)


DEV_TOOLS = (
    run_python,
    git_status,
    git_diff,
    git_log,
    git_commit,
    run_tests,
    run_lint,
    run_format,
    run_typecheck,
    run_build,
)
