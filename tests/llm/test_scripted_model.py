"""The scripted model server itself: loud failures, both wire formats, the demo
behaviour and the standalone command."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from orchestrator.llm.base import ChatMessage, ToolCallChunk
from orchestrator.llm.ollama import OllamaProvider
from tests.support.llm_samples import CALCULATE, collect, text_of, user
from tests.support.scripted_model import ScriptedModelServer, demo_reply

ROOT = Path(__file__).resolve().parents[2]


def test_empty_queue_answers_a_clear_error(server: ScriptedModelServer) -> None:
    body = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}
    ollama = httpx.post(f"{server.url}/api/chat", json=body)
    assert ollama.status_code == 500
    assert "no reply queued" in ollama.json()["error"]
    openai = httpx.post(f"{server.openai_url}/chat/completions", json=body)
    assert openai.status_code == 500
    assert "no reply queued" in openai.json()["error"]["message"]


def test_non_streaming_replies_carry_the_whole_message(server: ScriptedModelServer) -> None:
    server.enqueue(text="whole answer", tool_calls=[("calculate", {"expression": "1"})])
    server.enqueue(text="whole answer")
    body = {"model": "scripted", "messages": [], "stream": False}
    reply = httpx.post(f"{server.url}/api/chat", json=body).json()
    assert reply["done"] is True
    assert reply["message"]["content"] == "whole answer"
    assert reply["message"]["tool_calls"][0]["function"]["name"] == "calculate"
    completion = httpx.post(f"{server.openai_url}/chat/completions", json=body).json()
    assert completion["choices"][0]["message"]["content"] == "whole answer"


def test_server_records_every_request_in_order(server: ScriptedModelServer) -> None:
    httpx.get(f"{server.url}/api/version")
    httpx.post(f"{server.url}/api/show", json={"model": "scripted"})
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/api/version"),
        ("POST", "/api/show"),
    ]
    assert server.requests[1].body == {"model": "scripted"}


async def test_demo_reply_calls_calculate_then_answers_with_the_result(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.default = demo_reply
    history = user("Please calculate 6*7")
    chunks = await collect(ollama.chat("scripted", history, [CALCULATE]))
    call = next(c.call for c in chunks if isinstance(c, ToolCallChunk))
    assert (call.name, call.arguments) == ("calculate", {"expression": "6*7"})
    history += [
        ChatMessage(role="assistant", tool_calls=[call]),
        ChatMessage(role="tool", content="42", tool_call_id=call.id, name="calculate"),
    ]
    assert (
        text_of(await collect(ollama.chat("scripted", history, [CALCULATE]))) == "The result is 42."
    )


def test_demo_reply_uses_the_text_protocol_when_the_request_does() -> None:
    system = {"role": "system", "content": "## Tools\n```tool\n{...}\n```\n- calculate: math"}
    question = {"role": "user", "content": "what is 2+3"}
    ask = demo_reply({"messages": [system, question]})
    assert '"expression": "2+3"' in ask.text and "```tool" in ask.text
    result = {"role": "user", "content": "Result of calculate:\n5"}
    answer = demo_reply({"messages": [system, result]})
    assert answer.text == "```response\nThe result is 5.\n```"
    constrained = {"messages": [system, question], "format": {"anyOf": []}}
    assert json.loads(demo_reply(constrained).text)["tool"] == "calculate"
    constrained["messages"] = [system, result]
    assert json.loads(demo_reply(constrained).text) == {"response": "The result is 5."}
    chat = demo_reply({"messages": [{"role": "user", "content": "hello"}], "think": True})
    assert chat.text.startswith("You said: hello") and chat.thinking


def test_standalone_command_serves_the_demo_behaviour(closed_port_url: str) -> None:
    port = closed_port_url.rsplit(":", 1)[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.scripted_model",
            "--port",
            port,
            "--token-delay",
            "0",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                tags = httpx.get(f"{closed_port_url}/api/tags", timeout=1).json()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"standalone server did not start: {process.stdout}")
                time.sleep(0.1)
        assert [m["name"] for m in tags["models"]] == ["scripted", "scripted-text"]
        body = {"model": "scripted", "messages": [{"role": "user", "content": "hello"}]}
        lines = httpx.post(f"{closed_port_url}/api/chat", json=body).text.splitlines()
        text = "".join(json.loads(line)["message"]["content"] for line in lines)
        assert text.startswith("You said: hello")
    finally:
        process.terminate()
        process.wait(timeout=10)
