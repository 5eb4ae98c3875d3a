"""Attacks from inside execute_command: the host, its secrets and network stay out of reach."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from orchestrator.core.config import SandboxMode, Settings
from orchestrator.core.errors import PathOutsideWorkspace, ToolError
from orchestrator.tools.sandbox import SandboxedCommandRunner
from orchestrator.tools.workspace import Workspace
from tests.tools.conftest import LoopbackServer, Secret, ToolCall

pytestmark = pytest.mark.usefixtures("sandboxed")


async def run(call: ToolCall, command: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(await call("execute_command", command=command))
    return result


async def test_command_cannot_read_files_outside_the_workspace(
    call: ToolCall, secret: Secret, settings: Settings
) -> None:
    key_file = settings.data_dir / "secret_key"
    key = key_file.read_text()
    attempts = [
        f"cat {secret.path}",
        f"cat {key_file}",
        f"ls -la {settings.data_dir} {secret.path.parent}",
        f"cat /proc/1/root{secret.path}",
        "cat /proc/*/root/*/secret* /proc/*/cwd/../secret_key",
        "cat /etc/shadow /root/.bash_history",
        "grep -rl TOP-SECRET / --exclude-dir=proc --exclude-dir=usr",
    ]
    for command in attempts:
        result = await run(call, f"{command} 2>&1")
        output = str(result["output"])
        assert secret.text not in output, command
        assert key not in output, command


async def test_command_does_not_see_the_server_environment(
    call: ToolCall, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    marker = f"ENV-MARKER-{uuid.uuid4().hex}"
    monkeypatch.setenv("ORCHESTRATOR_TEST_SECRET", marker)
    monkeypatch.setenv("SECRET_KEY", marker)
    result = await run(call, "env; cat /proc/1/environ /proc/self/environ | tr '\\0' '\\n'")
    assert marker not in str(result["output"])
    assert "ORCHESTRATOR_TEST_SECRET" not in str(result["output"])
    assert "PATH=" in str(result["output"])


async def test_command_cannot_reach_the_network(
    call: ToolCall, secret_server: LoopbackServer
) -> None:
    fetch = (
        "import urllib.request,sys\n"
        f"print(urllib.request.urlopen('{secret_server.url}/', timeout=3).read())"
    )
    result = await run(call, f'python3 -c "{fetch}" 2>&1; curl -sS -m 3 {secret_server.url} 2>&1')
    assert secret_server.body not in str(result["output"])
    assert secret_server.requests == []
    interfaces = await run(call, "python3 -c 'import socket; print(socket.if_nameindex())'")
    assert str(interfaces["output"]).strip() == "[(1, 'lo')]"
    outside = await run(
        call,
        "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 80), timeout=3)\" 2>&1",
    )
    assert "Network is unreachable" in str(outside["output"])


async def test_command_cannot_write_outside_the_workspace(call: ToolCall, tmp_path: Path) -> None:
    marker = f"escape-{uuid.uuid4().hex}"
    result = await run(
        call,
        f"for d in /usr /etc /tmp /bin /var /root {tmp_path}; do "
        f"echo pwned > $d/{marker} 2>/dev/null && echo wrote $d; done; echo ok > in-workspace",
    )
    for directory in ("/usr", "/etc", "/tmp", "/bin", "/var", "/root", str(tmp_path)):
        assert not (Path(directory) / marker).exists(), directory
    assert result["exit_code"] == 0
    for directory in ("/usr", "/etc", "/bin", "/var", "/root"):  # read-only inside, too
        assert f"wrote {directory}\n" not in str(result["output"])


async def test_command_runs_unprivileged_without_capabilities(call: ToolCall) -> None:
    result = await run(
        call, "id -u; id -g; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status"
    )
    lines = str(result["output"]).split()
    assert lines[:2] == ["65534", "65534"]
    assert "CapEff:" in lines and lines[lines.index("CapEff:") + 1] == "0000000000000000"
    assert lines[lines.index("CapBnd:") + 1] == "0000000000000000"
    assert lines[lines.index("NoNewPrivs:") + 1] == "1"
    nested = await run(call, "unshare -U true 2>&1 || echo refused")
    assert "refused" in str(nested["output"])


async def test_command_sees_only_its_own_processes(call: ToolCall) -> None:
    result = await run(call, "ls /proc | grep -E '^[0-9]+$' | wc -l")
    assert int(str(result["output"]).strip()) < 10  # the host has hundreds


async def test_links_a_command_plants_are_refused_by_the_file_tools(
    call: ToolCall, workspace: Workspace, secret: Secret
) -> None:
    result = await run(
        call,
        f"ln -s {secret.path} abs; ln -s ../../../outside/secret.txt rel; "
        f"ln -s / root; ln {secret.path} hard 2>&1; ln /etc/passwd hard2 2>&1; mkfifo fifo; "
        "ls -la",
    )
    assert result["exit_code"] == 0
    assert not (workspace.root / "hard").exists()  # the secret is not even visible in there
    assert not (workspace.root / "hard2").exists()  # cross-mount hard links fail (EXDEV)
    for name in ("abs", "rel", "root/etc/passwd", f"root{secret.path}", "fifo"):
        with pytest.raises(ToolError) as caught:
            await call("read_file", path=name)
        assert secret.text not in caught.value.message
    with pytest.raises(PathOutsideWorkspace):
        await call("write_file", path="abs", content="pwned")
    assert secret.path.read_text() == secret.text


async def test_hard_link_made_without_sandbox_is_still_refused(
    settings: Settings, workspace: Workspace, secret: Secret
) -> None:
    """With SANDBOX=none a command can hard-link a host file; the file tools still refuse it."""
    plain = settings.model_copy(update={"sandbox": SandboxMode.NONE})
    result = await SandboxedCommandRunner(plain).run(f"ln {secret.path} hard", workspace.root)
    assert result.exit_code == 0 and os.stat(workspace.root / "hard").st_nlink == 2
    with pytest.raises(PathOutsideWorkspace, match="hard links"):
        Workspace(workspace.root).read_text("hard")
