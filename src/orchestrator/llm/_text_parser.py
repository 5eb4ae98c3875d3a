"""Incremental parser of the text tool protocol (see `text_protocol`).

Fed text deltas as they stream, it yields `TextDelta` for prose and for the content of
```response blocks (as it arrives), `ToolCallChunk` for each complete ```tool block and
`InvalidToolCall` for a broken one. A bare `{"tool": ...}` object counts as a call and
the string of a bare `{"response": "..."}` streams as text (constrained output). The
result never depends on where the deltas were split: anything that could still turn
into a fence is held back until it is decided.
"""

from __future__ import annotations

import contextlib
import enum
import json
import re
from typing import Any

from orchestrator.llm._constrained import decode_string_part
from orchestrator.llm._json_repair import JsonScanner, loads_lenient
from orchestrator.llm.base import InvalidToolCall, StreamChunk, TextDelta, ToolCall, ToolCallChunk

FENCE = "```"
TOOL_KINDS = frozenset({"tool", "tool_call", "tool_code", "tools"})
JSON_KINDS = frozenset({"json", "", "json5"})
_INFO = re.compile(r"[A-Za-z0-9_+.-]*")
_PARAM_KEYS = ("params", "parameters", "arguments", "args")
CALL_SHAPE = '{"tool": "name", "params": {...}}'


class _State(enum.Enum):
    PROSE = "prose"
    OPENER = "opener"  # read "```", waiting for the info word
    BUFFER = "buffer"  # a JSON-ish block (tool, json, bare object) read whole
    RESPONSE = "response"  # streamed answer
    VERBATIM = "verbatim"  # another code block, passed through as text
    JSON_ANSWER = "json_answer"  # the string of a bare {"response": "..."}, streamed


class TextProtocolParser:
    """Turn a streamed text-protocol answer into stream chunks; `feed` then `finish`."""

    def __init__(self, id_prefix: str = "call") -> None:
        self._id_prefix = id_prefix
        self._calls = 0
        self._buf = ""
        self._state = _State.PROSE
        self._out: list[StreamChunk] = []
        self._emitted = False  # any text sent yet
        self._held_ws = ""  # trailing whitespace not sent yet
        self._blank = True  # nothing but whitespace since the start or the last block
        self._kind = ""  # info word of the current block
        self._opener = ""  # the fence line as written, for verbatim output
        self._scan = JsonScanner()
        self._answer_checked = True
        self._depth = 0  # nested code fences inside a response block
        self._pending_newline = False
        self._mid_line = False

    def feed(self, text: str) -> list[StreamChunk]:
        """Consume one delta; return the chunks it completes."""
        self._buf += text
        self._drain(final=False)
        return self._take()

    def finish(self) -> list[StreamChunk]:
        """End of stream: flush what is held back and close any open block."""
        self._drain(final=True)
        self._held_ws = ""
        return self._take()

    def _take(self) -> list[StreamChunk]:
        out, self._out = self._out, []
        return out

    # -- output -----------------------------------------------------------------------
    def _say(self, text: str) -> None:
        """Send text, holding trailing whitespace until more text follows."""
        if not text:
            return
        body = text.rstrip()
        if not body:
            self._held_ws += text
            return
        body = self._held_ws + body if self._emitted else body.lstrip()
        self._held_ws = text[len(text.rstrip()) :]
        self._emitted = True
        self._blank = False
        if self._out and isinstance(last := self._out[-1], TextDelta):
            last.text += body
        else:
            self._out.append(TextDelta(text=body))

    def _call(self, raw: str, obj: Any) -> None:
        self._held_ws = ""
        self._out.append(self._to_chunk(raw, obj))

    def _to_chunk(self, raw: str, obj: Any) -> StreamChunk:
        if not isinstance(obj, dict):
            return InvalidToolCall(
                raw=raw, error=f"a tool block must hold one JSON object like {CALL_SHAPE}"
            )
        name = obj.get("tool")
        if not isinstance(name, str) or not name.strip():
            return InvalidToolCall(
                raw=raw, error=f'the object needs a "tool" key with the tool\'s name: {CALL_SHAPE}'
            )
        params: Any = next((obj[key] for key in _PARAM_KEYS if key in obj), {})
        if isinstance(params, str):
            with contextlib.suppress(ValueError):  # reported just below as a non-object
                params = loads_lenient(params) if params.strip() else {}
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return InvalidToolCall(
                raw=raw, error=f'"params" must be a JSON object of named arguments: {CALL_SHAPE}'
            )
        call_id = f"{self._id_prefix}_{self._calls}"
        self._calls += 1
        return ToolCallChunk(call=ToolCall(id=call_id, name=name.strip(), arguments=params))

    # -- state machine ----------------------------------------------------------------
    def _drain(self, final: bool) -> None:
        handlers = {
            _State.PROSE: self._prose,
            _State.OPENER: self._open,
            _State.BUFFER: self._buffered,
            _State.RESPONSE: self._lines,
            _State.VERBATIM: self._lines,
            _State.JSON_ANSWER: self._json_answer,
        }
        while handlers[self._state](final):
            pass

    def _prose(self, final: bool) -> bool:
        buf = self._buf
        if self._blank:
            start = len(buf) - len(buf.lstrip())
            if start < len(buf) and buf[start] == "{":
                self._say(buf[:start])
                self._buf = buf[start:]
                self._enter_buffer("bare")
                return True
            if start == len(buf):
                self._say(buf)
                self._buf = ""
                return False
        idx = buf.find(FENCE)
        if idx >= 0:
            self._say(buf[:idx])
            self._buf = buf[idx + len(FENCE) :]
            self._state = _State.OPENER
            return True
        keep = 0 if final else len(buf) - len(buf.rstrip("`"))
        self._say(buf[: len(buf) - keep])
        self._buf = buf[len(buf) - keep :]
        return False

    def _open(self, final: bool) -> bool:
        buf = self._buf
        word = _INFO.match(buf)
        assert word is not None
        rest = buf[word.end() :]
        after_spaces = rest.lstrip(" \t")
        if not final and (
            not after_spaces or (not after_spaces.startswith("\n") and word.end() == len(buf))
        ):
            return False  # the info word or the rest of the fence line may still be coming
        kind = word.group().lower()
        consumed = word.end() + (len(rest) - len(after_spaces))
        if after_spaces.startswith("\n"):
            consumed += 1
        body = buf[consumed:]
        if kind in JSON_KINDS:
            first = body.lstrip()[:1]
            if not first and not final:
                return False
            if first != "{":
                kind = "code"
        self._opener = FENCE + buf[:consumed]
        self._buf = body
        if kind in TOOL_KINDS or kind in JSON_KINDS:
            self._enter_buffer("tool" if kind in TOOL_KINDS else "json")
        elif kind == "response":
            self._enter_lines(_State.RESPONSE)
        else:
            self._say(self._opener)
            self._enter_lines(_State.VERBATIM)
        return True

    def _enter_buffer(self, kind: str) -> None:
        self._kind = kind
        self._scan = JsonScanner(bare=kind == "bare")
        self._answer_checked = kind != "bare"
        self._state = _State.BUFFER
        if kind == "tool":
            self._held_ws = ""

    def _enter_lines(self, state: _State) -> None:
        self._state = state
        self._depth = 0
        self._pending_newline = False
        self._mid_line = False

    def _back_to_prose(self, rest: str) -> None:
        self._buf = rest
        self._state = _State.PROSE
        self._blank = True

    def _buffered(self, final: bool) -> bool:
        if not self._answer_checked:
            start = _answer_start(self._buf)
            if start is None and not final:
                return False  # could still be {"response": "...
            self._answer_checked = True
            if start is not None and start >= 0:
                self._buf = self._buf[start:]
                self._state = _State.JSON_ANSWER
                return True
        end = self._scan.find_end(self._buf)
        if end is not None:
            body = self._buf[:end]
            skip = end if self._kind in ("bare", "tail") else end + len(FENCE)
            self._close_buffer(body, self._buf[skip:])
            return True
        if not final:
            return False
        body, rest = self._buf, ""
        if self._kind not in ("bare", "tail"):
            body, rest = _split_at_line_fence(self._buf)
        self._close_buffer(body, rest)
        return True

    def _close_buffer(self, body: str, rest: str) -> None:
        kind, opener = self._kind, self._opener
        self._back_to_prose(rest)
        if kind == "tail":
            return
        try:
            obj: Any = loads_lenient(body)
        except ValueError as exc:
            if kind == "tool" or '"tool"' in body or "'tool'" in body:
                self._held_ws = ""
                error = f"the tool call is {exc}; write {CALL_SHAPE}"
                self._out.append(InvalidToolCall(raw=body.strip(), error=error))
                return
            obj = None
        if kind == "tool" or (isinstance(obj, dict) and "tool" in obj):
            self._call(body.strip(), obj)
        elif (
            isinstance(obj, dict) and set(obj) == {"response"} and isinstance(obj["response"], str)
        ):
            self._say(obj["response"])
        elif kind == "bare":
            self._say(body)
        else:
            self._say(opener + body + FENCE)

    def _json_answer(self, final: bool) -> bool:
        """Stream the answer of a bare {"response": "..."} as its string arrives."""
        text, used, closed = decode_string_part(self._buf, final)
        self._say(text)
        self._buf = self._buf[used:]
        if not closed:
            return False
        self._kind = "tail"  # skip the rest of the object, up to its closing brace
        self._scan = JsonScanner(bare=True, depth=1)
        self._answer_checked = True
        self._state = _State.BUFFER
        return True

    def _lines(self, final: bool) -> bool:
        """Response and verbatim blocks, line by line; partial lines go out when safe."""
        while (nl := self._buf.find("\n")) >= 0:
            line, self._buf = self._buf[:nl], self._buf[nl + 1 :]
            if self._line(line, complete=True):
                return True
        if not self._buf:
            return False
        partial = self._buf
        if final:
            self._buf = ""
            if self._line(partial, complete=False):
                return True
            self._close_lines()
            self._back_to_prose("")
            return False
        stripped = partial.lstrip()
        if not self._mid_line and (not stripped or stripped.startswith("`")):
            return False  # may still become a fence line
        cut = partial.find("`")
        safe = partial if cut < 0 else partial[:cut]
        if safe:
            self._content(safe)
            self._buf = partial[len(safe) :]
            self._mid_line = True
        return False

    def _line(self, line: str, complete: bool) -> bool:
        """Handle one line of a block; True when the block closed (the rest is in _buf)."""
        response = self._state is _State.RESPONSE
        stripped = line.strip()
        if not self._mid_line and stripped.startswith(FENCE):
            info = stripped[len(FENCE) :].strip().lower()
            if info in TOOL_KINDS or (info == "response" and not response):
                self._close_lines()
                self._back_to_prose(line.lstrip() + ("\n" if complete else "") + self._buf)
                return True
            if info and _INFO.fullmatch(info):
                self._depth += 1
            elif self._depth:
                self._depth -= 1
            else:
                rest = ""
                if response:
                    rest = line[line.find(FENCE) + len(FENCE) :] + ("\n" if complete else "")
                else:
                    self._content(line, complete)
                self._close_lines()
                self._back_to_prose(rest + self._buf)
                return True
            self._content(line, complete)
            return False
        cut = line.find(FENCE) if response and self._depth == 0 else -1
        if cut >= 0:
            self._content(line[:cut])
            self._close_lines()
            rest = line[cut + len(FENCE) :] + ("\n" if complete else "")
            self._back_to_prose(rest + self._buf)
            return True
        self._content(line, complete)
        return False

    def _content(self, text: str, complete: bool = False) -> None:
        if self._pending_newline:
            text = "\n" + text
            self._pending_newline = False
        self._say(text)
        if complete:
            self._pending_newline = True
            self._mid_line = False

    def _close_lines(self) -> None:
        if self._state is _State.VERBATIM and self._pending_newline:
            self._say("\n")
        self._pending_newline = False
        self._mid_line = False


_ANSWER_PREFIX = ("{", None, '"response"', None, ":", None, '"')


def _answer_start(buf: str) -> int | None:
    """Where the string of a `{"response": "` opening ends; None if more input could
    still make one, -1 if it cannot."""
    i = 0
    for part in _ANSWER_PREFIX:
        if part is None:
            while i < len(buf) and buf[i].isspace():
                i += 1
            if i == len(buf):
                return None
            continue
        for ch in part:
            if i == len(buf):
                return None
            if buf[i] != ch:
                return -1
            i += 1
    return i


def _split_at_line_fence(buf: str) -> tuple[str, str]:
    """For an unclosed block at end of stream: cut at the first line-start fence after
    which the body parses, else take everything."""
    for match in re.finditer(r"(?m)^[ \t]*```", buf):
        body = buf[: match.start()]
        try:
            loads_lenient(body)
        except ValueError:
            continue
        return body, buf[match.end() :]
    return buf, ""


def dumps_call(name: str, params: dict[str, Any]) -> str:
    """The JSON of one text-protocol tool call."""
    return json.dumps({"tool": name, "params": params}, ensure_ascii=False)
