"""`X-Request-ID` on every answer and on the log lines of its request; `LOG_FORMAT=json`
writes JSON lines in which no password, token or API key a full run used appears."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from orchestrator.observability import JsonFormatter, mask_secrets, request_id
from tests.conftest import Api
from tests.support.api_keys import api_key
from tests.support.scripted_model import ScriptedModelServer
from tests.support.server import free_port
from tests.support.ws import open_socket, receive_until

BIN = Path(sys.executable).parent / "orchestrator"
PASSWORD = "planted-Pa55word-7781"


def test_every_answer_has_a_request_id_and_a_sane_given_one_is_kept(api: Api) -> None:
    answers = [
        api.client.get("/system/health"),
        api.client.get("/no/such/route"),
        api.client.get("/usage"),  # 401
        api.client.post("/auth/login", content=b"x" * (3 * 1024 * 1024)),  # 413 by middleware
    ]
    ids = [a.headers["x-request-id"] for a in answers]
    assert all(len(i) == 32 for i in ids) and len(set(ids)) == len(ids)
    kept = api.client.get("/system/health", headers={"X-Request-ID": "trace-abc.123"})
    assert kept.headers["x-request-id"] == "trace-abc.123"
    hostile = api.client.get("/system/health", headers={"X-Request-ID": 'a b"<script>' * 10})
    assert hostile.headers["x-request-id"] != 'a b"<script>' * 10
    assert len(hostile.headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    "line",
    [
        "login password=hunter2-planted ok",
        '{"password": "hunter2-planted"}',
        "Authorization: Bearer hunter2-planted",
        "GET /api/v1/chat/ws?token=hunter2-planted 101",
        "key orch_hunter2plantedABCDEFGH used",
        "api_key=hunter2-planted&x=1",
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.hunter2-planted",
    ],
)
def test_secrets_are_masked_in_any_shape(line: str) -> None:
    assert "hunter2" not in mask_secrets(line)


def test_json_lines_carry_the_request_id_and_extras() -> None:
    record = logging.LogRecord("x", logging.INFO, "f", 1, "user %s logged in", ("bob",), None)
    record.api_key = "orch_abcdefghijklmnop"
    token = request_id.set("req-1")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["message"] == "user bob logged in" and line["request_id"] == "req-1"
    assert line["level"] == "INFO" and "abcdefghijklmnop" not in json.dumps(line)


def test_a_full_runs_json_logs_hold_no_secret_it_used(
    tmp_path: Path, model: ScriptedModelServer
) -> None:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL"}},
        "DATA_DIR": str(tmp_path),
        "OLLAMA_URL": model.url,
        "DEFAULT_MODEL": "scripted",
        "REGISTRATION": "open",
        "LOG_FORMAT": "json",
        "APPROVAL_RISKS": "",
        "SANDBOX": "none",
    }
    log_file = tmp_path / "server.log"
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            [BIN, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/v1/system/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log_file.read_text()
            time.sleep(0.1)
        api = Api(base)
        user = api.register("logged", PASSWORD)
        wrong = api.client.post(
            "/auth/login", json={"username": "logged", "password": PASSWORD + "x"}
        )
        assert wrong.status_code == 401
        key = api_key(api, user)
        refresh = api.client.post(
            "/auth/login", json={"username": "logged", "password": PASSWORD}
        ).json()["refresh_token"]
        model.enqueue(tool_calls=[("execute_command", {"command": "echo hi"})])
        model.enqueue(text="done")
        with open_socket(base, "/chat/ws", user.token) as ws:
            ws.send(json.dumps({"message": "run echo"}))
            events = receive_until(ws, "complete", timeout=60)
        assert events[-1]["data"]["status"] == "succeeded", events[-1]
        model.enqueue(text="pong")
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
        client.chat.completions.create(
            model="agent/assistant", messages=[{"role": "user", "content": "ping"}]
        )
        with open_socket(base, "/chat/ws", key) as ws:  # an API key in the URL
            ws.send(json.dumps({"type": "cancel", "run_id": "nope"}))
            ws.recv(timeout=10)
        traced = api.client.get("/usage", headers={**user.headers, "X-Request-ID": "grep-me-42"})
        assert traced.status_code == 200
        api.client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    text = log_file.read_text()
    other = [x for x in text.splitlines() if x.strip() and not x.startswith("{")]
    assert " ".join(other).startswith("AI Orchestrator on")  # the banner (wrapped) only
    assert str(tmp_path).split("/")[-1] in other[-1]
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    for secret in (PASSWORD, user.token, key, refresh, key.removeprefix("orch_")):
        assert secret not in text, f"a secret is in the logs: {secret[:8]}..."
    mine = [line for line in lines if line.get("request_id") == "grep-me-42"]
    assert mine and "/api/v1/usage" in mine[0]["message"]
    access = [line for line in lines if line["logger"] == "orchestrator.access"]
    assert access and all(line.get("request_id") for line in access)
    sockets = [line for line in lines if "/chat/ws?token=***" in line["message"]]
    assert len(sockets) >= 2 and all(line.get("request_id") for line in sockets)
