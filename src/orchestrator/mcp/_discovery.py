"""From a server's tool listing to registry entries, under the stated limits."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from orchestrator.mcp._models import (
    MAX_DESCRIPTION_CHARS,
    MAX_SCHEMA_BYTES,
    MAX_TOOL_NAME,
    MAX_TOOLS,
    McpToolInfo,
    SkippedTool,
)

SEPARATOR = "__"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
MAX_SCHEMA_DEPTH = 32


def registry_name(server: str, remote: str) -> str:
    """`SERVER__TOOL`, with characters models reject replaced by `_`."""
    return f"{server}{SEPARATOR}{_UNSAFE.sub('_', remote)}"


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_SCHEMA_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def schema_problem(schema: Any) -> str | None:
    """Why an input schema cannot be offered to a model, or None if it can."""
    if not isinstance(schema, dict):
        return "its input schema is not a JSON object"
    if schema.get("type", "object") != "object":
        return f"its input schema describes {schema.get('type')!r}, not an object of arguments"
    try:
        size = len(json.dumps(schema))
    except (TypeError, ValueError):
        return "its input schema is not valid JSON"
    if size > MAX_SCHEMA_BYTES:
        return f"its input schema is {size} bytes, over the limit of {MAX_SCHEMA_BYTES}"
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        return f"its input schema nests deeper than {MAX_SCHEMA_DEPTH} levels"
    import jsonschema  # lazily: only refreshes and MCP calls need it

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"its input schema is invalid: {exc.message[:300]}"
    except Exception as exc:  # a schema can break the validator in other ways (bad $ref...)
        return f"its input schema cannot be used: {type(exc).__name__}"
    return None


def _field(item: Any, *names: str) -> Any:
    for name in names:
        value = item.get(name) if isinstance(item, dict) else getattr(item, name, None)
        if value is not None:
            return value
    return None


def select_tools(server: str, listed: Iterable[Any]) -> tuple[list[McpToolInfo], list[SkippedTool]]:
    """The tools that join the registry, and those skipped with their reason."""
    kept: list[McpToolInfo] = []
    skipped: list[SkippedTool] = []
    seen: set[str] = set()
    for item in listed:
        remote = _field(item, "name")
        if not isinstance(remote, str) or not remote.strip():
            skipped.append(SkippedTool(name=str(remote)[:100], reason="it has no name"))
            continue
        name = registry_name(server, remote)
        shown = remote[:100]
        if len(name) > MAX_TOOL_NAME:
            reason = f"{name[:80]}... is longer than {MAX_TOOL_NAME} characters"
            skipped.append(SkippedTool(name=shown, reason=reason))
            continue
        if name in seen:
            reason = f"another tool of this server is already named {name}"
            skipped.append(SkippedTool(name=shown, reason=reason))
            continue
        schema = _field(item, "inputSchema", "input_schema")
        problem = schema_problem(schema)
        if problem is not None:
            skipped.append(SkippedTool(name=shown, reason=problem))
            continue
        if len(kept) >= MAX_TOOLS:
            reason = f"the server offers more than {MAX_TOOLS} tools; the rest are skipped"
            skipped.append(SkippedTool(name=shown, reason=reason))
            continue
        description = _field(item, "description", "title") or ""
        if not isinstance(description, str):
            description = str(description)
        if len(description) > MAX_DESCRIPTION_CHARS:
            description = description[: MAX_DESCRIPTION_CHARS - 3] + "..."
        seen.add(name)
        kept.append(
            McpToolInfo(name=name, remote_name=remote, description=description, input_schema=schema)
        )
    return kept, skipped
