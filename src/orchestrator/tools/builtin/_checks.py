"""The project's own checks: which command runs them, and what its output says.

The project kind comes from the workspace: `pyproject.toml`, `setup.cfg` or `setup.py`
mean Python (pytest, ruff, mypy); `package.json` means its npm scripts. Every tool
these commands need must be visible inside the sandbox; when it is not, the check says
which one is missing instead of failing obscurely.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from orchestrator.core.errors import ToolError
from orchestrator.tools.sandbox import TOOLCHAIN_DIR, toolchain_binaries

CHECKS = ("tests", "lint", "format", "typecheck", "build")
_PY = {
    "tests": "python3 -m pytest -q --color=no -p no:cacheprovider",
    "lint": "ruff check --no-cache --output-format concise .",
    "format": "ruff format --no-cache .",
    "typecheck": "mypy --no-incremental --cache-dir=/dev/null .",
    "build": "PYTHONPYCACHEPREFIX=/tmp/pycache python3 -m compileall -q .",
}
_NPM_SCRIPTS = {
    "tests": ("test",),
    "lint": ("lint",),
    "format": ("format", "fmt"),
    "typecheck": ("typecheck", "type-check", "check-types", "tsc"),
    "build": ("build",),
}
_COUNT = re.compile(
    r"(\d+)\s+(passed|failed|errors?|skipped|xfailed|xpassed|warnings?|reformatted|"
    r"files? reformatted|left unchanged)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CheckPlan:
    """The command to run and the program it needs."""

    command: str
    program: str
    project: str


def detect(root: Path, check: str) -> CheckPlan:
    """The command for `check` in the project at `root`; ToolError if none fits."""
    names = set(os.listdir(root)) if root.is_dir() else set()
    if names & {"pyproject.toml", "setup.cfg", "setup.py"}:
        command = _PY[check]
        program = command.split()[-1] if check == "build" else command.split()[0]
        if command.startswith("python3 -m pytest"):
            program = "pytest"
        elif check == "build":
            program = "python3"
        return CheckPlan(command=command, program=program, project="python")
    if "package.json" in names:
        try:
            package = json.loads((root / "package.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ToolError("package.json is not valid JSON") from None
        scripts = package.get("scripts") if isinstance(package, dict) else None
        scripts = scripts if isinstance(scripts, dict) else {}
        for name in _NPM_SCRIPTS[check]:
            if name in scripts:
                return CheckPlan(
                    command=f"npm run --silent {shlex.quote(name)}", program="npm", project="node"
                )
        raise ToolError(
            f"package.json has no script for {check} (looked for "
            f"{', '.join(_NPM_SCRIPTS[check])}); pass 'command' to say what to run"
        )
    raise ToolError(
        "no project found here (no pyproject.toml, setup.cfg, setup.py or package.json); "
        "pass 'path' to the project folder or 'command' to say what to run"
    )


def visible_programs() -> dict[str, str | None]:
    """The toolchains commands can see in the sandbox: name -> where (None: missing)."""
    seen: dict[str, str | None] = {}
    for name, host in (
        ("git", "/usr/bin/git"),
        ("python3", "/usr/bin/python3"),
        ("npm", "/usr/bin/npm"),
        ("node", "/usr/bin/node"),
        ("mypy", "/usr/bin/mypy"),
    ):
        seen[name] = host if os.path.exists(host) else None
    seen["pytest"] = (
        "/usr/lib/python3/dist-packages/pytest"
        if os.path.isdir("/usr/lib/python3/dist-packages/pytest")
        else None
    )
    extra = {name: f"{TOOLCHAIN_DIR}/{name}" for name in toolchain_binaries().values()}
    seen["ruff"] = extra.get("ruff")
    return seen


INSTALL_HINTS = {
    "git": "apt-get install git",
    "python3": "apt-get install python3",
    "pytest": "apt-get install python3-pytest",
    "mypy": "apt-get install mypy",
    "ruff": "install the project's dependencies (`make setup`): ruff comes from its environment",
    "npm": "apt-get install npm",
    "node": "apt-get install nodejs",
}


def require(program: str) -> None:
    """ToolError naming the missing toolchain when the sandbox cannot see `program`."""
    seen = visible_programs()
    if program in seen and seen[program] is None:
        raise ToolError(
            f"{program} is not installed where the sandbox can see it; an admin can "
            f"{INSTALL_HINTS.get(program, 'install it')}"
        )


def summarize(output: str, exit_code: int | None, timed_out: bool) -> tuple[str, dict[str, int]]:
    """A one-line summary and the counts the runner printed (passed, failed, errors...)."""
    counts: dict[str, int] = {}
    for number, label in _COUNT.findall(output[-4000:]):
        key = label.lower().replace("files ", "").replace("file ", "")
        key = {"error": "errors", "warning": "warnings", "left unchanged": "unchanged"}.get(
            key, key
        )
        counts[key] = int(number)
    found = re.search(r"Found (\d+) errors?", output)
    if found and "errors" not in counts:
        counts["errors"] = int(found.group(1))
    if timed_out:
        return "stopped: it ran over its time limit", counts
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    last = lines[-1].strip("= ") if lines else ""
    verdict = "passed" if exit_code == 0 else f"failed (exit code {exit_code})"
    return (f"{verdict}: {last}" if last else verdict)[:300], counts
