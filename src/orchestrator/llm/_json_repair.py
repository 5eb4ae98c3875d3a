"""Lenient JSON for what small models write: trailing commas, single quotes, Python
literals, raw newlines in strings, a missing closing brace, prose after the object;
and a scanner that finds where such JSON ends in a growing buffer."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = "```"
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def loads_lenient(raw: str) -> Any:
    """Parse `raw` as JSON, repairing common model mistakes; ValueError says what was wrong."""
    try:
        return json.loads(raw, strict=False)
    except json.JSONDecodeError as first:
        problem = f"{first.msg} at line {first.lineno} column {first.colno}"
    try:
        return json.loads(repair_json(raw), strict=False)
    except json.JSONDecodeError:
        raise ValueError(f"not valid JSON ({problem})") from None


def repair_json(raw: str) -> str:
    """Rewrite almost-JSON into JSON; the result may still be invalid."""
    start = min((i for i in (raw.find("{"), raw.find("[")) if i >= 0), default=-1)
    if start < 0:
        return raw
    out: list[str] = []
    closers: list[str] = []
    i, n = start, len(raw)
    while i < n:
        ch = raw[i]
        if ch in "\"'":
            i = _copy_string(raw, i, out)
            continue
        if ch in "{[":
            closers.append("}" if ch == "{" else "]")
        elif ch in "}]":
            _drop_trailing_comma(out)
            if closers:
                out.append(closers.pop())
            if not closers:
                return "".join(out)
            i += 1
            continue
        elif ch == "/" and raw.startswith("//", i):
            end = raw.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch.isalpha() or ch == "_":
            word = _WORD.match(raw, i)
            assert word is not None
            out.append(_PY_LITERALS.get(word.group(), word.group()))
            i = word.end()
            continue
        out.append(ch)
        i += 1
    _drop_trailing_comma(out)
    out.extend(reversed(closers))
    return "".join(out)


def _copy_string(raw: str, i: int, out: list[str]) -> int:
    """Copy the string at raw[i] as a double-quoted JSON string; return the index after it."""
    quote = raw[i]
    out.append('"')
    i += 1
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append(nxt if quote == "'" and nxt == "'" else ch + nxt)
            i += 2
            continue
        if ch == quote:
            out.append('"')
            return i + 1
        if ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        else:
            out.append(ch)
        i += 1
    out.append('"')  # unterminated string: close it
    return i


def _drop_trailing_comma(out: list[str]) -> None:
    j = len(out) - 1
    while j >= 0 and out[j].isspace():
        j -= 1
    if j >= 0 and out[j] == ",":
        del out[j]


class JsonScanner:
    """Finds where a JSON-ish block ends, skipping fences and braces inside strings."""

    def __init__(self, bare: bool = False, depth: int = 0) -> None:
        self._bare = bare
        self._pos = 0
        self._quote = ""
        self._escaped = False
        self._depth = depth

    def find_end(self, buf: str) -> int | None:
        """Index of the closing fence (or, for a bare object, just past its last brace)."""
        i = self._pos
        while i < len(buf):
            ch = buf[i]
            if self._quote:
                if self._escaped:
                    self._escaped = False
                elif ch == "\\":
                    self._escaped = True
                elif ch == self._quote or (ch == "\n" and self._quote == "'"):
                    self._quote = ""  # an apostrophe in broken JSON must not hide the fence
            elif ch in "\"'":
                self._quote = ch
            elif self._bare and ch in "{[":
                self._depth += 1
            elif self._bare and ch in "}]":
                self._depth -= 1
                if self._depth <= 0:
                    return i + 1
            elif not self._bare and ch == "`":
                if len(buf) - i < len(_FENCE) and buf[i:] == "`" * (len(buf) - i):
                    break  # maybe a fence split across deltas
                if buf.startswith(_FENCE, i):
                    return i
            i += 1
        self._pos = i
        return None
