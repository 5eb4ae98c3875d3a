"""run_python, git_* and run_* in the real sandbox (network off) on real projects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.core.errors import ToolError
from orchestrator.tools.builtin import _checks
from orchestrator.tools.workspace import Workspace
from tests.tools.conftest import ToolCall

pytestmark = pytest.mark.usefixtures("sandboxed")


@pytest.fixture
def pyproject(workspace: Workspace) -> Path:
    root = workspace.root
    (root / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0.1.0"\n')
    (root / "calc.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    (root / "test_calc.py").write_text(
        "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
        "def test_wrong():\n    assert add(2, 2) == 5\n"
    )
    return root


async def test_run_python_runs_in_the_sandbox(call: ToolCall, workspace: Workspace) -> None:
    out = json.loads(
        await call(
            "run_python",
            code="import os, socket\nprint(os.getuid(), os.getcwd())\n"
            "open('made.txt', 'w').write('hi')",
        )
    )
    assert out["exit_code"] == 0 and out["output"].split() == ["65534", "/workspace"]
    assert (workspace.root / "made.txt").read_text() == "hi"
    out = json.loads(await call("run_python", code="raise SystemExit(3)"))
    assert out["exit_code"] == 3


async def test_run_python_has_no_network(call: ToolCall, serve) -> None:
    server = serve("reachable")
    code = f"import urllib.request\nprint(urllib.request.urlopen('{server.url}', timeout=2).read())"
    out = json.loads(await call("run_python", code=code))
    assert out["exit_code"] != 0 and "reachable" not in out["output"]
    assert server.requests == []


async def test_run_tests_counts_passes_and_failures(call: ToolCall, pyproject: Path) -> None:
    out = json.loads(await call("run_tests"))
    assert out["command"].startswith("python3 -m pytest")
    assert out["passed"] is False and out["exit_code"] == 1
    assert out["counts"]["passed"] == 1 and out["counts"]["failed"] == 1
    assert "test_wrong" in out["output"]


async def test_run_lint_and_format_use_ruff(call: ToolCall, pyproject: Path) -> None:
    if _checks.visible_programs()["ruff"] is None:
        pytest.skip("ruff is not in this environment")
    (pyproject / "messy.py").write_text("import os\nx=1\n")
    lint = json.loads(await call("run_lint"))
    assert lint["passed"] is False and "F401" in lint["output"]
    fmt = json.loads(await call("run_format"))
    assert fmt["passed"] is True and (pyproject / "messy.py").read_text() == "import os\n\nx = 1\n"


async def test_run_typecheck_uses_mypy(call: ToolCall, pyproject: Path) -> None:
    if _checks.visible_programs()["mypy"] is None:
        pytest.skip("mypy is not installed (apt-get install mypy)")
    (pyproject / "bad.py").write_text("from calc import add\n\nadd('a', 1)\n")
    out = json.loads(await call("run_typecheck"))
    assert out["passed"] is False and out["counts"]["errors"] >= 1
    assert "bad.py" in out["output"]


async def test_run_build_on_a_node_project_without_a_script_says_so(
    call: ToolCall, workspace: Workspace
) -> None:
    (workspace.root / "package.json").write_text('{"scripts": {"test": "echo ok"}}')
    with pytest.raises(ToolError, match="no script for build"):
        await call("run_build")
    with pytest.raises(ToolError, match="no project found"):
        await call("run_tests", path="nowhere-dir-missing")


async def test_run_tests_with_a_given_command(call: ToolCall, workspace: Workspace) -> None:
    out = json.loads(await call("run_tests", command="echo '3 passed, 0 failed'"))
    assert out["passed"] is True and out["counts"] == {"passed": 3, "failed": 0}


async def test_git_tools_commit_and_show_history(call: ToolCall, workspace: Workspace) -> None:
    with pytest.raises(ToolError, match="not a git repository"):
        await call("git_status")
    (workspace.root / "readme.md").write_text("hello\n")
    commit = json.loads(await call("git_commit", message="first commit"))
    assert commit["exit_code"] == 0, commit
    (workspace.root / "readme.md").write_text("hello world\n")
    status = json.loads(await call("git_status"))
    assert "M readme.md" in status["output"]
    diff = json.loads(await call("git_diff"))
    assert "+hello world" in diff["output"]
    log = json.loads(await call("git_log"))
    assert "first commit" in log["output"]
    with pytest.raises(ToolError):
        await call("git_diff", path="../outside")


def test_missing_toolchain_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_checks, "visible_programs", lambda: {"mypy": None})
    with pytest.raises(ToolError, match="mypy is not installed where the sandbox can see it"):
        _checks.require("mypy")
