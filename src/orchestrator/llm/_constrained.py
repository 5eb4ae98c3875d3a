"""JSON schemas that keep a tiny model's output valid and short, and a reader that
streams the answer out of the JSON while it is still being written.

The embedded model cannot write tool-call JSON unaided; constrained by a grammar built
from these schemas (every string bounded by `maxLength`) it always produces valid JSON.
`call_or_answer_schema` makes every output a call, the answer being the call of a
pseudo-tool: the choice between answering and calling a tool is then a choice among
names, which a small model makes far better than between two shapes of JSON.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from orchestrator.llm.base import ToolSpec

PARAM_MAX_LENGTH = 200
RESPONSE_MAX_LENGTH = 800
ARRAY_MAX_ITEMS = 8

_RESPONSE_START = re.compile(r'\s*\{\s*"response"\s*:\s*"')
ANSWER_TOOL = "answer"


def tool_choice_schema(
    tools: list[ToolSpec],
    *,
    allow_answer: bool = True,
    bounded: bool = True,
    response_max_length: int = RESPONSE_MAX_LENGTH,
) -> dict[str, Any]:
    """`{"tool": name, "params": {...}}` for one of `tools`, or (if allowed) `{"response": ...}`."""
    options: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {
                "tool": {"enum": [tool.name]},
                "params": _params_schema(tool, bounded),
            },
            "required": ["tool", "params"],
            "additionalProperties": False,
        }
        for tool in tools
    ]
    if not allow_answer:
        return {"anyOf": options}
    options.append(
        {
            "type": "object",
            "properties": {
                "response": {"type": "string", "minLength": 1}
                | ({"maxLength": response_max_length} if bounded else {})
            },
            "required": ["response"],
            "additionalProperties": False,
        }
    )
    return {"anyOf": options}


def answer_tool_name(tools: list[ToolSpec]) -> str:
    """The pseudo-tool's name: `answer`, unless a real tool has it."""
    taken = {tool.name for tool in tools}
    name = ANSWER_TOOL
    while name in taken:
        name = f"{name}_user"
    return name


def call_or_answer_schema(tools: list[ToolSpec], *, answer: str | None) -> dict[str, Any]:
    """`{"tool": name, "params": {...}}` for one of `tools`, or (when `answer` names the
    pseudo-tool) `{"tool": answer, "params": {"text": ...}}`; every string bounded."""
    schema = tool_choice_schema(tools, allow_answer=False)
    if answer is not None:
        text = {"type": "string", "minLength": 1, "maxLength": RESPONSE_MAX_LENGTH}
        schema["anyOf"].append(
            {
                "type": "object",
                "properties": {
                    "tool": {"enum": [answer]},
                    "params": {
                        "type": "object",
                        "properties": {"text": text},
                        "required": ["text"],
                        "additionalProperties": False,
                    },
                },
                "required": ["tool", "params"],
                "additionalProperties": False,
            }
        )
    return schema


def answer_start(answer: str) -> re.Pattern[str]:
    """Where the text of the pseudo-tool's call begins, for `ResponseReader`."""
    name = re.escape(json.dumps(answer))
    return re.compile(rf'\s*\{{\s*"tool"\s*:\s*{name}\s*,\s*"params"\s*:\s*\{{\s*"text"\s*:\s*"')


# llama.cpp's schema-to-grammar converter knows no class escapes: `\d` in a tool's pattern
# failed to parse and crashed the process (SIGSEGV). Spelled as sets they work.
_CLASS_ESCAPES = {r"\d": "[0-9]", r"\w": "[A-Za-z0-9_]", r"\s": "[ ]"}
_CLASS_ESCAPE = re.compile(r"(?<!\\)\\[dws]")


def grammar_pattern(pattern: str) -> str | None:
    """The pattern with `\\d`, `\\w`, `\\s` written as character sets; None where they sit
    inside a set (merging sets is not worth it: the string is then only length-bounded)."""
    if "[" in pattern and _CLASS_ESCAPE.search(pattern):
        return None
    return _CLASS_ESCAPE.sub(lambda m: _CLASS_ESCAPES[m.group(0)], pattern)


def _params_schema(tool: ToolSpec, bounded: bool) -> dict[str, Any]:
    schema = tool.parameters or {"type": "object"}
    return bounded_schema(schema) if bounded else schema


def bounded_schema(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """A copy of `schema` where every string has a maxLength, every array a maxItems and
    every object no extra properties, so that constrained output always ends."""
    out = copy.deepcopy(schema)
    _bound(out, required)
    return out


def _bound(schema: dict[str, Any], required: bool) -> None:
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "string" in kinds and "enum" not in schema and "const" not in schema:
        # llama.cpp spells a bound out as nested optionals: a tool's own large limit (a file's
        # content, a memory) would make a grammar thousands deep and crash it. Cap it.
        schema["maxLength"] = min(schema.get("maxLength", PARAM_MAX_LENGTH), PARAM_MAX_LENGTH)
        if isinstance(schema.get("pattern"), str):
            pattern = grammar_pattern(schema.pop("pattern"))
            if pattern is not None:
                schema["pattern"] = pattern
        if required:
            schema.setdefault("minLength", 1)  # an empty required string is never what a tool wants
    if "array" in kinds:
        schema["maxItems"] = min(schema.get("maxItems", ARRAY_MAX_ITEMS), ARRAY_MAX_ITEMS)
        if isinstance(items := schema.get("items"), dict):
            _bound(items, required=False)
    if "object" in kinds or "properties" in schema:
        if isinstance(values := schema.get("additionalProperties"), dict):
            _bound(values, required=False)  # a map's values (e.g. HTTP headers)
        schema.setdefault("additionalProperties", False)
        needed = set(schema.get("required") or [])
        for name, sub in (schema.get("properties") or {}).items():
            if isinstance(sub, dict):
                _bound(sub, required=name in needed)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key) or []:
            if isinstance(sub, dict):
                _bound(sub, required)
    for definitions in (schema.get("$defs"), schema.get("definitions")):
        for sub in (definitions or {}).values():  # what `$ref`s name (pydantic's nested models)
            if isinstance(sub, dict):
                _bound(sub, required=False)


class ResponseReader:
    """Fed the raw JSON as it streams; returns the new text of the answer: the string that
    `start` (by default `{"response": "`) opens. `start=None`: no answer can come."""

    def __init__(self, start: re.Pattern[str] | None = _RESPONSE_START) -> None:
        self._pattern = start
        self.raw = ""
        self._start: int | None = None
        self._consumed = 0
        self._closed = False
        self.streamed = False  # whether some answer text went out already

    def feed(self, delta: str) -> str:
        """Add a delta; return the answer text it completes, if the output is an answer."""
        self.raw += delta
        if self._start is None:
            match = self._pattern.match(self.raw) if self._pattern else None
            if match is None:
                return ""
            self._start = self._consumed = match.end()
        if self._closed:
            return ""
        text, used, self._closed = decode_string_part(self.raw[self._consumed :])
        self._consumed += used
        self.streamed = self.streamed or bool(text)
        return text


_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def decode_string_part(body: str, final: bool = False) -> tuple[str, int, bool]:
    """Decode the start of a JSON string body (after its opening quote) as far as is
    certain: returns (text, characters used, whether the closing quote was reached).
    Decoding piece by piece gives the same text as decoding the whole; a bad escape is
    kept as written."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            return "".join(out), i + 1, True
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(body):
            break  # the escape's second character is still to come
        kind = body[i + 1]
        if kind != "u":
            out.append(_ESCAPES.get(kind, ch + kind))
            i += 2
            continue
        if not final and _may_become_unicode_escape(body[i : i + 6]):
            break
        code = _hex4(body, i + 2)
        if code is None:
            out.append(body[i : i + 2])
            i += 2
            continue
        if 0xD800 <= code < 0xDC00:  # a high surrogate: its pair may follow
            if not final and _may_become_unicode_escape(body[i + 6 : i + 12]):
                break
            low = _hex4(body, i + 8) if body[i + 6 : i + 8] == "\\u" else None
            if low is not None and 0xDC00 <= low < 0xE000:
                out.append(chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
                i += 12
                continue
        out.append(chr(code) if not 0xD800 <= code < 0xE000 else "\ufffd")
        i += 6
    if final:
        return "".join(out), len(body), False
    return "".join(out), i, False


def _may_become_unicode_escape(text: str) -> bool:
    """Whether `text` is an unfinished `\\uXXXX` that more input could complete."""
    if len(text) >= 6 or not "\\u".startswith(text[:2]):
        return False
    return all(c in "0123456789abcdefABCDEF" for c in text[2:])


def _hex4(body: str, start: int) -> int | None:
    digits = body[start : start + 4]
    if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
        return int(digits, 16)
    return None
