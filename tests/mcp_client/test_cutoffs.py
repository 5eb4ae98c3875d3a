"""A server that hangs, crashes, writes garbage or sends 10 MB is cut off with a clear
error to the model; the next call gets a fresh server, other users' calls carry on, and
a stopped server leaves no process behind."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from tests.conftest import Api
from tests.mcp_client.conftest import add_server, agent_turn, python_server
from tests.support.scripted_model import ScriptedModelServer


def _processes_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(pid))
    return found


def test_a_hanging_server_is_cut_off_and_the_next_call_restarts_it(
    sandbox, mcp_api: Api, admin, model: ScriptedModelServer
) -> None:
    add_server(mcp_api, admin, "bad", python_server())
    started = time.monotonic()
    tools = agent_turn(
        mcp_api, model, admin, [("bad__hang", {}), ("bad__echo", {"text": "still here"})]
    )
    assert tools[0]["status"] == "failed"
    assert "did not answer the call to hang within 8 s" in tools[0]["result"]
    assert tools[1]["status"] == "finished" and tools[1]["result"] == "echo: still here"
    assert time.monotonic() - started < 30


def test_a_crashing_server_is_reported_and_restarted(
    sandbox, mcp_api: Api, admin, model: ScriptedModelServer
) -> None:
    add_server(mcp_api, admin, "bad", python_server())
    tools = agent_turn(mcp_api, model, admin, [("bad__crash", {}), ("bad__echo", {"text": "back"})])
    assert tools[0]["status"] == "failed"
    assert "exited with status 3" in tools[0]["result"]
    assert "crashed on purpose" in tools[0]["result"]
    assert tools[1]["status"] == "finished" and tools[1]["result"] == "echo: back"


def test_garbage_and_10_mb_answers_cut_the_server_off(
    sandbox, mcp_api: Api, admin, model: ScriptedModelServer
) -> None:
    add_server(mcp_api, admin, "bad", python_server())
    tools = agent_turn(
        mcp_api,
        model,
        admin,
        [("bad__garbage", {}), ("bad__huge", {}), ("bad__echo", {"text": "ok"})],
    )
    assert tools[0]["status"] == "failed"
    assert "not MCP" in tools[0]["result"] and "<html>" in tools[0]["result"]
    assert tools[1]["status"] == "failed"
    assert "over 4 MB" in tools[1]["result"]
    assert len(tools[1]["result"]) < 1000
    assert tools[2]["status"] == "finished"


def test_other_users_calls_carry_on_while_one_server_hangs(
    sandbox, mcp_api: Api, admin, model: ScriptedModelServer
) -> None:
    add_server(mcp_api, admin, "bad", python_server())
    other = mcp_api.register()
    hung: list = []
    model.enqueue(tool_calls=[("bad__hang", {})])
    thread = threading.Thread(
        target=lambda: hung.append(
            mcp_api.client.post("/chat", json={"message": "hang"}, headers=admin.headers)
        )
    )
    thread.start()
    time.sleep(1.5)  # the admin's call is hanging now
    started = time.monotonic()
    tools = agent_turn(mcp_api, model, other, [("bad__echo", {"text": "mine"})])
    assert tools[0]["result"] == "echo: mine"
    assert time.monotonic() - started < 5
    model.enqueue(text="gave up")  # the admin's turn, once its call was cut off
    thread.join(30)
    assert hung and hung[0].status_code == 200


def test_stopping_a_server_kills_its_whole_process_tree(
    sandbox, mcp_api: Api, admin, model: ScriptedModelServer
) -> None:
    server = add_server(mcp_api, admin, "bad", python_server())
    marker = str(900000 + uuid.uuid4().int % 99999)
    tools = agent_turn(mcp_api, model, admin, [("bad__fork", {"text": marker})])
    assert tools[0]["result"] == "forked"
    assert _processes_with(marker), "the daemon should run while the server does"
    deleted = mcp_api.client.delete(f"/mcp/servers/{server['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    deadline = time.monotonic() + 10
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _processes_with(marker)


def test_a_server_listing_1000_tools_and_bad_schemas_is_handled(
    sandbox, mcp_api: Api, admin
) -> None:
    result = add_server(mcp_api, admin, "many", python_server("many"))
    assert len(result["tools"]) == result["limits"]["max_tools"] == 100
    reasons = {s["name"]: s["reason"] for s in result["skipped"]}
    assert "invalid" in reasons["bad_schema_type"]
    assert "not an object" in reasons["not_an_object"]
    assert "longer than 64" in reasons["x" * 100]
    assert "already named many__dup_name" in reasons["dup/name"]
    assert "more than 100 tools" in reasons["t999"] if "t999" in reasons else True
    assert result["skipped_count"] == 5 + 908
    listed = mcp_api.client.get("/tools", headers=admin.headers).json()
    assert sum(t["name"].startswith("many__") for t in listed["data"]) == 100


def test_the_sdk_is_imported_only_when_a_server_is_used(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from orchestrator.app import create_app\n"
        "from orchestrator.core.config import Settings\n"
        f"create_app(Settings(_env_file=None, data_dir={str(tmp_path)!r}))\n"
        "loaded = [m for m in ('mcp', 'httpx2', 'jsonschema') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
