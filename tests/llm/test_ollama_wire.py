"""The /api/chat request built without the SDK equals the one the SDK would send."""

from __future__ import annotations

from typing import Any

import pytest
from ollama import Tool
from ollama._client import _copy_messages, _parse_host
from ollama._types import ChatRequest

from orchestrator.llm._ollama_wire import api_root, chat_body
from orchestrator.llm.base import ChatMessage, GenerationOptions, ImagePart, ToolCall, ToolSpec
from orchestrator.tools.registry import ToolRegistry
from tests.support.llm_samples import CALCULATE

# Schemas the built-in tools do not have: what an MCP server may send.
ODD_TOOLS = [
    ToolSpec(
        name="mcp_query",
        description="",
        parameters={
            "type": "object",
            "title": "Query",
            "$defs": {"Mode": {"enum": ["a", "b"]}},
            "additionalProperties": False,
            "properties": {
                "mode": {"$ref": "#/$defs/Mode", "default": "a"},
                "limit": {"type": ["integer", "null"], "minimum": 1, "title": "Limit"},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                "kind": {"anyOf": [{"type": "string"}, {"type": "null"}], "enum": ["x", None]},
            },
        },
    ),
    ToolSpec(name="no_arguments", description="Takes nothing.", parameters={"type": "object"}),
]
HISTORY = [
    ChatMessage(role="system", content="Be brief."),
    ChatMessage(
        role="user",
        content="what is in it?",
        images=[ImagePart(path="a.png", media_type="image/png", data="aGVsbG8=")],
    ),
    ChatMessage(
        role="assistant",
        tool_calls=[
            ToolCall(id="call_1_0", name="calculate", arguments={"expression": "2+2"}),
            ToolCall(id="call_1_1", name="no_arguments"),
        ],
    ),
    ChatMessage(role="tool", content="4", tool_call_id="call_1_0", name="calculate"),
    ChatMessage(role="tool", content="", tool_call_id="call_1_1", name="no_arguments"),
    ChatMessage(role="assistant", content="It is 4. ünïcödé"),
]


def sdk_body(
    messages: list[ChatMessage],
    tools: list[ToolSpec] | None,
    think: bool | None = None,
    json_schema: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What `ollama.AsyncClient.chat(stream=True, ...)` sends, built the SDK's way."""
    # The messages as the provider gave them to the SDK, and the SDK's own copying.
    given = []
    for m in messages:
        fields: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.images:
            fields["images"] = [image.data for image in m.images]
        if m.tool_calls:
            fields["tool_calls"] = [
                {"function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls
            ]
        if m.role == "tool" and m.name:
            fields["tool_name"] = m.name
        given.append(fields)
    sdk_messages = list(_copy_messages(given))
    sdk_tools = [
        Tool.model_validate(
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
        )
        for t in tools or []
    ]
    request = ChatRequest(
        model="scripted",
        messages=sdk_messages,
        tools=sdk_tools,
        stream=True,
        think=think,
        format=json_schema,
        options=options,
    )
    return request.model_dump(exclude_none=True)


def test_chat_body_equals_the_sdk_request_for_the_built_in_tools() -> None:
    tools = ToolRegistry.from_entry_points().specs()
    assert len(tools) > 20
    body = chat_body("scripted", HISTORY, tools, think=None, json_schema=None, options=None)
    assert body == sdk_body(HISTORY, tools)


def test_chat_body_equals_the_sdk_request_for_odd_schemas_and_every_option() -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    options = GenerationOptions(temperature=0.2, max_tokens=9, seed=1, context_length=4096)
    body = chat_body(
        "scripted", HISTORY, ODD_TOOLS, think=True, json_schema=schema, options=options
    )
    expected = sdk_body(
        HISTORY,
        ODD_TOOLS,
        think=True,
        json_schema=schema,
        options={"temperature": 0.2, "num_predict": 9, "seed": 1, "num_ctx": 4096},
    )
    assert body == expected
    assert body["tools"][0]["function"]["parameters"]["properties"]["mode"] == {}


def test_chat_body_sends_an_empty_tool_list_and_no_options_when_none_are_given() -> None:
    messages = [ChatMessage(role="user", content="hi")]
    body = chat_body("scripted", messages, None, think=False, json_schema=None, options=None)
    assert body == sdk_body(messages, None, think=False)
    assert body["tools"] == []
    assert "options" not in body
    assert chat_body(
        "scripted", messages, [CALCULATE], think=None, json_schema=None, options=GenerationOptions()
    ) == sdk_body(messages, [CALCULATE])


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:11434",
        "http://localhost:11434/",
        "https://ollama.example.com/api-proxy/",
        "localhost",
        "localhost:8080",
        "gpu.lan/ollama/",
        "[::1]:9000",
        "",
    ],
)
def test_api_root_reads_a_host_as_the_sdk_does(url: str) -> None:
    ours = httpx_url(api_root(url))
    assert ours == httpx_url(_parse_host(url))


def httpx_url(url: str) -> tuple[str, str, int | None, str]:
    """The parts of a URL that decide where a request goes."""
    import httpx

    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port, parsed.path.rstrip("/")
