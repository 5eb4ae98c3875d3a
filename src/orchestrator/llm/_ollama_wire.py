"""Ollama's /api/chat on the wire, without the SDK's pydantic models.

The SDK validates every request into its models and every NDJSON line of the answer
into a `ChatResponse`: about a third of the event loop's time in a chat turn against
a fast model. Here the request body is built as plain data, equal to what the SDK's
`ChatRequest(...).model_dump(exclude_none=True)` sends (a test holds the two equal,
tool schemas filtered to the fields the SDK's `Tool` keeps), and each answer line is
read with `json.loads` and checked for the few fields the provider uses.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from orchestrator.llm.base import ChatMessage, GenerationOptions, ToolSpec

DEFAULT_PORT = 11434
# What the SDK's `Tool.Function.Parameters.Property` keeps of a property's schema.
_PROPERTY_KEYS = ("type", "items", "description", "enum")


class MalformedReply(ValueError):
    """A line of the answer that is JSON but not Ollama's chat message."""


def api_root(url: str) -> str:
    """The server's root URL as the SDK reads a host: a bare `host[:port]` is
    `http://host:11434`, a trailing slash is dropped."""
    if "://" not in url:
        split = urllib.parse.urlsplit(f"http://{url}")
        host = split.netloc.rpartition("@")[2] or "127.0.0.1"
        if split.port is None:
            host = f"{host}:{DEFAULT_PORT}"
        url = f"http://{host}{split.path}"
    return url.rstrip("/")


def chat_body(
    model: str,
    messages: list[ChatMessage],
    tools: list[ToolSpec] | None,
    *,
    think: bool | None,
    json_schema: dict[str, Any] | None,
    options: GenerationOptions | None,
) -> dict[str, Any]:
    """The JSON body of a streamed /api/chat request."""
    body: dict[str, Any] = {
        "model": model,
        "stream": True,
        "messages": [_message(m) for m in messages],
        "tools": [_tool(t) for t in tools or []],
    }
    if (sampling := _options(options)) is not None:
        body["options"] = sampling
    if json_schema is not None:
        body["format"] = json_schema
    if think is not None:
        body["think"] = think
    return body


def _message(message: ChatMessage) -> dict[str, Any]:
    # Empty fields are left out, as the SDK does (an empty content is not sent).
    out: dict[str, Any] = {"role": message.role}
    if message.content:
        out["content"] = message.content
    if message.images:
        out["images"] = [image.data for image in message.images]
    if message.role == "tool" and message.name:
        out["tool_name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [
            {"function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    return out


def _tool(tool: ToolSpec) -> dict[str, Any]:
    schema = tool.parameters
    parameters: dict[str, Any] = {"type": "object"}
    defs = schema.get("$defs", schema.get("defs"))
    if defs is not None:
        parameters["$defs"] = defs
    for key in ("items", "required"):
        if schema.get(key) is not None:
            parameters[key] = schema[key]
    properties = schema.get("properties")
    if properties is not None:
        parameters["properties"] = {
            name: {key: prop[key] for key in _PROPERTY_KEYS if prop.get(key) is not None}
            for name, prop in properties.items()
        }
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": parameters},
    }


def _options(options: GenerationOptions | None) -> dict[str, Any] | None:
    if options is None:
        return None
    values = {
        "temperature": options.temperature,
        "num_predict": options.max_tokens,
        "seed": options.seed,
        "num_ctx": options.context_length,
    }
    return {key: value for key, value in values.items() if value is not None} or None


def message_of(part: Any) -> dict[str, Any]:
    """The `message` of one answer line, checked as far as the provider reads it."""
    message = part.get("message") if isinstance(part, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise MalformedReply(f"not a chat message: {str(part)[:200]}")
    for key in ("content", "thinking"):
        if not isinstance(message.get(key) or "", str):
            raise MalformedReply(f"{key} is not text: {str(part)[:200]}")
    return message


def tool_calls_of(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, arguments) of each tool call in one answer line's message."""
    calls = []
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise MalformedReply(f"a tool call without a function: {str(call)[:200]}")
        name, arguments = function.get("name"), function.get("arguments")
        if not isinstance(name, str) or not isinstance(arguments, dict):
            raise MalformedReply(f"a tool call without a name or arguments: {str(call)[:200]}")
        calls.append((name, dict(arguments)))
    return calls
