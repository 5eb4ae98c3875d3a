"""Repair of near-miss tool calls, before they run.

Small models often call `read-file`, `readFile` or `ReadFile` for `read_file`, or send
`"3"` where the schema asks for an integer. Where the intent is unambiguous the call is
mended: the name maps to the one tool whose normalised name matches, and each argument
is coerced to its schema's type when exactly one reading exists. Anything else is left
as the model wrote it, for the tool's own validation to answer.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.llm.base import ToolCall, ToolSpec

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-.:/]+")
_INTEGER = re.compile(r"^[+-]?\d+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
NAME_CUTOFF = 0.88  # difflib ratio a misspelt name needs to map to a tool


def normalise(name: str) -> str:
    """`readFile`, `Read-File`, `functions.read_file` -> `read_file`."""
    name = name.strip().rsplit(".", 1)[-1] if name.startswith("functions.") else name.strip()
    return _SEPARATORS.sub("_", _CAMEL.sub("_", name)).lower().strip("_")


def repair_name(name: str, known: Iterable[str]) -> str | None:
    """The one known tool a near-miss name means, or None (unknown or ambiguous)."""
    names = list(known)
    if name in names:
        return name
    wanted = normalise(name)
    exact = [n for n in names if normalise(n) == wanted]
    if len(exact) == 1:
        return exact[0]
    if exact:
        return None
    close = difflib.get_close_matches(
        wanted, [normalise(n) for n in names], n=2, cutoff=NAME_CUTOFF
    )
    if len(close) == 1:
        return next(n for n in names if normalise(n) == close[0])
    return None


@dataclass(frozen=True)
class Repaired:
    """A mended call, and what was changed (empty: the call was fine as it was)."""

    call: ToolCall
    changes: tuple[str, ...] = ()


def repair_call(call: ToolCall, specs: Iterable[ToolSpec]) -> Repaired:
    """Map a near-miss name to its tool and coerce unambiguous arguments."""
    by_name = {spec.name: spec for spec in specs}
    changes: list[str] = []
    name = repair_name(call.name, by_name)
    if name is None:
        return Repaired(call)
    if name != call.name:
        changes.append(f"tool {call.name!r} -> {name!r}")
    schema = by_name[name].parameters
    arguments = _coerce_object(call.arguments, schema, schema, "", changes)
    if not changes:
        return Repaired(call)
    return Repaired(call.model_copy(update={"name": name, "arguments": arguments}), tuple(changes))


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local `$ref` and drop a `null` alternative of `anyOf` (optional fields)."""
    for _ in range(10):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            schema = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
            continue
        options = [o for o in schema.get("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            schema = options[0]
            continue
        return schema
    return schema


def _coerce_object(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str, changes: list[str]
) -> Any:
    if not isinstance(value, dict):
        return value
    properties = schema.get("properties", {})
    out = dict(value)
    for key, item in value.items():
        if key in properties:
            out[key] = _coerce(item, properties[key], root, f"{path}{key}", changes)
    return out


def _coerce(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str, changes: list[str]
) -> Any:
    schema = _resolve(schema, root)
    kind = schema.get("type")
    new = value
    if "enum" in schema and isinstance(value, str) and value not in schema["enum"]:
        matches = [e for e in schema["enum"] if isinstance(e, str) and e.lower() == value.lower()]
        if len(matches) == 1:
            new = matches[0]
    elif kind == "integer" and isinstance(value, str) and _INTEGER.match(value.strip()):
        new = int(value.strip())
    elif kind == "integer" and isinstance(value, float) and value.is_integer():
        new = int(value)
    elif kind == "number" and isinstance(value, str) and _NUMBER.match(value.strip()):
        number = float(value.strip())
        new = int(number) if number.is_integer() and "." not in value else number
    elif (
        kind == "boolean" and isinstance(value, str) and value.strip().lower() in {"true", "false"}
    ):
        new = value.strip().lower() == "true"
    elif kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        new = str(value)
    elif kind in {"object", "array"} and isinstance(value, str):
        parsed = _json(value)
        if isinstance(parsed, dict if kind == "object" else list):
            new = parsed
        elif kind == "array" and _resolve(schema.get("items", {}), root).get("type") == "string":
            new = [value]  # one string where a list of strings is wanted
    if new is not value:
        changes.append(f"{path}: {value!r} -> {new!r}")
    if kind == "object":
        return _coerce_object(new, schema, root, f"{path}.", changes)
    if kind == "array" and isinstance(new, list):
        items = schema.get("items", {})
        return [_coerce(v, items, root, f"{path}[{i}]", changes) for i, v in enumerate(new)]
    return new


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def argument_help(spec: ToolSpec) -> str:
    """What a failed call's observation adds: the parameters the tool takes."""
    return (
        f"The parameters of {spec.name} are (JSON schema): "
        f"{json.dumps(spec.parameters, separators=(',', ':'))[:1500]}. "
        f"Call {spec.name} once more with corrected arguments."
    )
