"""The text tool protocol, for models without native tool calling (DESIGN.md):

    ```tool
    {"tool": "name", "params": {...}}
    ```
    ```response
    final answer
    ```

`render_tool_section` tells the model about it, `to_text_messages` rewrites a history
that holds native tool calls into plain turns, and `TextProtocolParser` reads the
model's streamed answer back into stream chunks. Where the backend can constrain output
to a JSON schema, the model writes bare `{"tool": ..., "params": ...}` or
`{"response": "..."}` objects instead (`render_json_tool_section`); the parser reads
those too, streaming the answer as it comes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from orchestrator.llm._text_parser import TextProtocolParser, dumps_call
from orchestrator.llm.base import ChatMessage, ToolCall, ToolSpec

__all__ = [
    "TextProtocolParser",
    "fenced_tool_call",
    "json_tool_call",
    "render_json_tool_section",
    "render_tool_list",
    "render_tool_section",
    "to_text_messages",
]

_INSTRUCTIONS = """\
## Tools
You can call tools. To call one, write exactly this and nothing after it:
```tool
{{"tool": "<tool name>", "params": {{<arguments as JSON>}}}}
```
Then stop: the result comes back in the next message. Call one tool at a time.
When you know the final answer, write it like this:
```response
<your answer>
```

Available tools:
{tools}"""

_JSON_INSTRUCTIONS = """\
## Tools
You can call tools. Reply with one JSON object and nothing else:
- to call a tool: {{"tool": "<tool name>", "params": {{<arguments>}}}}
- to answer: {{"response": "<your answer>"}}
A tool's result comes back in the next message.

Available tools:
{tools}"""


def render_tool_section(tools: list[ToolSpec]) -> str:
    """The system-prompt section that describes the tools and the text protocol."""
    return _INSTRUCTIONS.format(tools=render_tool_list(tools))


def render_json_tool_section(tools: list[ToolSpec]) -> str:
    """The tool section for output constrained to `{"tool", "params"}` or `{"response"}` JSON."""
    return _JSON_INSTRUCTIONS.format(tools=render_tool_list(tools))


def render_tool_list(tools: list[ToolSpec]) -> str:
    """Each tool with its parameters, one bullet per tool."""
    return "\n".join(_render_tool(tool) for tool in tools)


def _render_tool(tool: ToolSpec) -> str:
    lines = [f"- {tool.name}: {tool.description.strip()}"]
    properties: dict[str, Any] = tool.parameters.get("properties") or {}
    required = set(tool.parameters.get("required") or [])
    if not properties:
        lines.append("  params: none, use {}")
    for name, schema in properties.items():
        kind = _type_name(schema)
        need = "required" if name in required else "optional"
        text = f"  - {name} ({kind}, {need})"
        if description := schema.get("description"):
            text += f": {description}"
        if "enum" in schema:
            text += f" one of {json.dumps(schema['enum'])}"
        if "default" in schema:
            text += f" (default {json.dumps(schema['default'])})"
        lines.append(text)
    return "\n".join(lines)


def _type_name(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind == "array" and isinstance(items := schema.get("items"), dict):
        return f"array of {_type_name(items)}"
    if kind is None and "anyOf" in schema:
        return " or ".join(_type_name(option) for option in schema["anyOf"])
    return str(kind or "any")


def fenced_tool_call(call: ToolCall) -> str:
    """One tool call as a ```tool block."""
    return f"```tool\n{dumps_call(call.name, call.arguments)}\n```"


def json_tool_call(call: ToolCall) -> str:
    """One tool call as a bare JSON object (for grammar-constrained models)."""
    return dumps_call(call.name, call.arguments)


def to_text_messages(
    messages: list[ChatMessage],
    tools: list[ToolSpec] | None,
    *,
    render_call: Callable[[ToolCall], str] = fenced_tool_call,
    tool_section: str | None = None,
    render_result: Callable[[str, str], str] | None = None,
) -> list[ChatMessage]:
    """Rewrite a history for a model without native tools: the tool section joins the
    system message, tool calls become text, tool results become user turns (written by
    `render_result(tool name, result)`, by default "Result of NAME:" and the result)."""
    section = (
        tool_section if tool_section is not None else (render_tool_section(tools) if tools else "")
    )
    out: list[ChatMessage] = []
    for message in messages:
        if message.role == "assistant" and message.tool_calls:
            parts = [message.content.strip()] if message.content.strip() else []
            parts.extend(render_call(call) for call in message.tool_calls)
            _append(out, ChatMessage(role="assistant", content="\n".join(parts)))
        elif message.role == "tool":
            name = message.name or "the tool"
            text = (
                render_result(name, message.content)
                if render_result
                else f"Result of {name}:\n{message.content}"
            )
            _append(out, ChatMessage(role="user", content=text))
        else:
            _append(out, ChatMessage(role=message.role, content=message.content))
    if section:
        if out and out[0].role == "system":
            out[0] = ChatMessage(role="system", content=f"{out[0].content.rstrip()}\n\n{section}")
        else:
            out.insert(0, ChatMessage(role="system", content=section))
    return out


def _append(out: list[ChatMessage], message: ChatMessage) -> None:
    """Append, merging consecutive user turns (many chat templates expect alternation)."""
    if out and message.role == "user" and out[-1].role == "user":
        out[-1] = ChatMessage(role="user", content=f"{out[-1].content}\n\n{message.content}")
    else:
        out.append(message)
