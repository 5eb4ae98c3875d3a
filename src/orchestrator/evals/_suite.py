"""The fixed suite: agent tasks with what a right answer must show.

Change a task, add or remove one, and `SUITE_VERSION` goes up: stored results are only
comparable within one version. Every task offers the same catalogue (the registry's
tools plus the suite's own), so each is also a test of picking one tool out of many.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from orchestrator.evals._tools import outbox

SUITE_VERSION = "1"
Category = Literal["pick_tool", "arguments", "chain", "no_tool", "recovery"]
Check = Callable[[Any], bool]


def eq(expected: Any) -> Check:
    """Exactly this value (strings compared without surrounding spaces or case)."""

    def check(value: Any) -> bool:
        if isinstance(expected, str) and isinstance(value, str):
            return value.strip().lower() == expected.lower()
        if isinstance(expected, int | float) and isinstance(value, int | float):
            return not isinstance(value, bool) and abs(value - expected) < 1e-9
        return bool(value == expected)

    return check


def path(expected: str) -> Check:
    """A workspace path, written `x`, `./x` or `/x`."""

    def check(value: Any) -> bool:
        return isinstance(value, str) and value.strip().lstrip("./").rstrip("/") == expected

    return check


def has(*parts: str) -> Check:
    """A string that contains every part (any case)."""

    def check(value: Any) -> bool:
        return isinstance(value, str) and all(p.lower() in value.lower() for p in parts)

    return check


def unit(*names: str) -> Check:
    """One of these unit spellings."""
    return lambda value: isinstance(value, str) and value.strip().lower() in names


def items(*expected: str) -> Check:
    """A list holding exactly these strings, in any order (any case)."""

    def check(value: Any) -> bool:
        return isinstance(value, list) and sorted(str(v).strip().lower() for v in value) == sorted(
            e.lower() for e in expected
        )

    return check


def fields(**checks: Check) -> Check:
    """An object whose named fields pass their checks."""
    return lambda value: (
        isinstance(value, dict)
        and all(name in value and c(value[name]) for name, c in checks.items())
    )


@dataclass(frozen=True)
class Expect:
    """One call the task needs: this tool, with arguments that pass these checks."""

    tool: str
    args: Mapping[str, Check] = field(default_factory=dict)

    def matches(self, name: str, arguments: Mapping[str, Any]) -> bool:
        return name == self.tool and all(
            key in arguments and check(arguments[key]) for key, check in self.args.items()
        )


Answer = str | tuple[str, ...]  # a text the answer must contain, or any one of several


@dataclass(frozen=True)
class EvalTask:
    """One task: the user's request, the workspace it starts from, what success shows."""

    id: str
    category: Category
    prompt: str
    expect: tuple[Expect, ...] = ()  # in order; empty: the task needs no tool at all
    answer: tuple[Answer, ...] = ()  # every one must be in the final answer
    files: Mapping[str, str] = field(default_factory=dict)
    check: Callable[[Path], bool] | None = None  # the workspace after the task

    def answer_ok(self, text: str) -> bool:
        plain = normalise_answer(text)
        return all(
            any(normalise_answer(o) in plain for o in ((a,) if isinstance(a, str) else a))
            for a in self.answer
        )


def normalise_answer(text: str) -> str:
    """Lower case, one space, no thousands separators (`7,006,652` reads `7006652`)."""
    text = re.sub(r"(?<=\d)[,\u202f\u00a0 ](?=\d{3}\b)", "", text.lower())
    return re.sub(r"\s+", " ", text)


def _file(name: str, content: str) -> Callable[[Path], bool]:
    def check(root: Path) -> bool:
        target = root / name
        return target.is_file() and target.read_text().strip() == content

    return check


def _recorded(tool: str, **checks: Check) -> Callable[[Path], bool]:
    def check(root: Path) -> bool:
        return any(
            r.get("tool") == tool and all(k in r and c(r[k]) for k, c in checks.items())
            for r in outbox(root)
        )

    return check


def _is_dir(name: str) -> Callable[[Path], bool]:
    return lambda root: (root / name).is_dir()


_CONFIG = json.dumps({"city": "Cairo", "units": "celsius"})

TASKS: tuple[EvalTask, ...] = (
    # --- picking the one right tool out of many
    EvalTask(
        "calc-product",
        "pick_tool",
        "Use a tool to compute 1234 * 5678 exactly, then tell me the result.",
        (Expect("calculate", {"expression": has("1234", "5678")}),),
        ("7006652",),
    ),
    EvalTask(
        "read-note",
        "pick_tool",
        "What does the file notes/todo.txt in my workspace say?",
        (Expect("read_file", {"path": path("notes/todo.txt")}),),
        ("oat milk",),
        files={"notes/todo.txt": "buy oat milk\n"},
    ),
    EvalTask(
        "list-reports",
        "pick_tool",
        "Which files are in the folder reports of my workspace?",
        (Expect("list_directory", {"path": path("reports")}),),
        ("q3.md",),
        files={"reports/q3.md": "# Q3\n"},
    ),
    EvalTask(
        "write-hello",
        "pick_tool",
        "Create the file hello.txt in my workspace containing exactly: Hello, world",
        (Expect("write_file", {"path": path("hello.txt"), "content": has("Hello, world")}),),
        check=_file("hello.txt", "Hello, world"),
    ),
    EvalTask(
        "weather-oslo",
        "pick_tool",
        "What is the weather like in Oslo right now?",
        (Expect("get_weather", {"city": eq("Oslo")}),),
        (("-3", "minus 3"), "snow"),
    ),
    EvalTask(
        "order-status",
        "pick_tool",
        "What is the status of order 4417?",
        (Expect("lookup_order", {"order_id": eq(4417)}),),
        ("shipped",),
    ),
    EvalTask(
        "grep-todo",
        "pick_tool",
        "Search the text of the files in the src folder for lines containing FIXME and "
        "tell me what they say.",
        (Expect("grep", {"pattern": has("FIXME")}),),
        ("overflow",),
        files={"src/app.py": "x = 1\n# FIXME: overflow on big inputs\n", "src/b.py": "y = 2\n"},
    ),
    EvalTask(
        "find-csv",
        "pick_tool",
        "Find the files whose names end in .csv anywhere in my workspace.",
        (Expect("search_files", {"pattern": has("csv")}),),
        ("sales.csv",),
        files={"data/2026/sales.csv": "a,b\n1,2\n", "readme.md": "hi\n"},
    ),
    EvalTask(
        "file-size",
        "pick_tool",
        "How many bytes is the file data/blob.txt? Use the tool that gives file details.",
        (Expect("file_info", {"path": path("data/blob.txt")}),),
        ("37",),
        files={"data/blob.txt": "x" * 37},
    ),
    EvalTask(
        "make-folder",
        "pick_tool",
        "Create the directory archive/2026 in my workspace.",
        (Expect("make_directory", {"path": path("archive/2026")}),),
        check=_is_dir("archive/2026"),
    ),
    EvalTask(
        "convert-km",
        "pick_tool",
        "Convert 5 kilometres to miles with the unit conversion tool.",
        (
            Expect(
                "convert_units",
                {
                    "value": eq(5),
                    "from_unit": unit("km", "kilometer", "kilometre", "kilometers", "kilometres"),
                    "to_unit": unit("mile", "miles", "mi"),
                },
            ),
        ),
        ("3.1",),
    ),
    # --- filling arguments: nested objects, enums, booleans, integers
    EvalTask(
        "event-nested",
        "arguments",
        "Put a calendar event titled 'Design review' on 2026-12-03 at 14:00 with "
        "alice@example.com and bob@example.com, priority high.",
        (
            Expect(
                "create_event",
                {
                    "title": eq("Design review"),
                    "when": fields(date=eq("2026-12-03"), time=eq("14:00")),
                    "attendees": items("alice@example.com", "bob@example.com"),
                    "priority": eq("high"),
                },
            ),
        ),
        check=_recorded("create_event", priority=eq("high")),
    ),
    EvalTask(
        "ticket-nested",
        "arguments",
        "Open a ticket titled 'Login page is slow', assigned to Maya from the frontend "
        "team, with the labels performance and ui.",
        (
            Expect(
                "create_ticket",
                {
                    "title": eq("Login page is slow"),
                    "assignee": fields(name=eq("Maya"), team=eq("frontend")),
                    "labels": items("performance", "ui"),
                },
            ),
        ),
        check=_recorded("create_ticket", assignee=fields(team=eq("frontend"))),
    ),
    EvalTask(
        "thermostat-enum",
        "arguments",
        "Set the kitchen thermostat to 21 degrees in heat mode.",
        (Expect("set_thermostat", {"room": eq("kitchen"), "target": eq(21), "mode": eq("heat")}),),
        check=_recorded("set_thermostat", target=eq(21), mode=eq("heat")),
    ),
    EvalTask(
        "thermostat-off",
        "arguments",
        "Turn the thermostat in the bedroom off; leave the target at 16 degrees.",
        (Expect("set_thermostat", {"room": eq("bedroom"), "target": eq(16), "mode": eq("off")}),),
        check=_recorded("set_thermostat", mode=eq("off")),
    ),
    EvalTask(
        "hash-md5",
        "arguments",
        "Give me the md5 hex digest of the text hello.",
        (Expect("hash", {"text": eq("hello"), "algorithm": eq("md5")}),),
        ("5d41402abc4b2a76b9719d911017c592",),
    ),
    EvalTask(
        "hash-sha256",
        "arguments",
        "What is the sha256 digest of the text abc?",
        (Expect("hash", {"text": eq("abc"), "algorithm": eq("sha256")}),),
        ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",),
    ),
    EvalTask(
        "encode-hex",
        "arguments",
        "Encode the text OK as hex.",
        (Expect("encode", {"text": eq("OK"), "scheme": eq("hex")}),),
        ("4f4b",),
    ),
    EvalTask(
        "encode-base64",
        "arguments",
        "Encode the text 'hello world' in base64.",
        (Expect("encode", {"text": eq("hello world"), "scheme": eq("base64")}),),
        ("aGVsbG8gd29ybGQ=",),
    ),
    EvalTask(
        "decode-url",
        "arguments",
        "URL-decode this text with the encoding tool: a%20b%26c",
        (Expect("encode", {"text": eq("a%20b%26c"), "scheme": eq("url"), "decode": eq(True)}),),
        ("a b&c",),
    ),
    EvalTask(
        "weather-fahrenheit",
        "arguments",
        "What is the temperature in Lima in fahrenheit?",
        (Expect("get_weather", {"city": eq("Lima"), "unit": eq("fahrenheit")}),),
        ("66.2",),
    ),
    # --- two- and three-step chains
    EvalTask(
        "read-then-calc",
        "chain",
        "The file price.txt holds a price. Read it, then use a tool to multiply it by 3 and "
        "tell me the result.",
        (
            Expect("read_file", {"path": path("price.txt")}),
            Expect("calculate", {"expression": has("17")}),
        ),
        ("51",),
        files={"price.txt": "17\n"},
    ),
    EvalTask(
        "list-then-read",
        "chain",
        "There is exactly one file in the folder inbox. Find it and tell me what it says.",
        (
            Expect("list_directory", {"path": path("inbox")}),
            Expect("read_file", {"path": path("inbox/message.txt")}),
        ),
        ("pelican",),
        files={"inbox/message.txt": "The password is pelican.\n"},
    ),
    EvalTask(
        "copy-file",
        "chain",
        "Copy the content of a.txt into a new file b.txt.",
        (
            Expect("read_file", {"path": path("a.txt")}),
            Expect("write_file", {"path": path("b.txt"), "content": has("lantern")}),
        ),
        files={"a.txt": "lantern\n"},
        check=_file("b.txt", "lantern"),
    ),
    EvalTask(
        "order-then-weather",
        "chain",
        "Look up order 5521, then tell me the weather in the city it ships to.",
        (
            Expect("lookup_order", {"order_id": eq(5521)}),
            Expect("get_weather", {"city": eq("Cairo")}),
        ),
        ("27", "sunny"),
    ),
    EvalTask(
        "config-weather-save",
        "chain",
        "Read config.json, get the weather for the city it names, and write the sky "
        "condition (one word) to sky.txt.",
        (
            Expect("read_file", {"path": path("config.json")}),
            Expect("get_weather", {"city": eq("Cairo")}),
            Expect("write_file", {"path": path("sky.txt"), "content": has("sunny")}),
        ),
        files={"config.json": _CONFIG},
        check=_file("sky.txt", "sunny"),
    ),
    EvalTask(
        "find-read-calc",
        "chain",
        "Somewhere in my workspace is a file named count.txt holding a number. Find it, "
        "read it, and use a tool to compute that number squared.",
        (
            Expect("search_files", {"pattern": has("count")}),
            Expect("read_file", {"path": path("stats/deep/count.txt")}),
            Expect("calculate", {"expression": has("12")}),
        ),
        ("144",),
        files={"stats/deep/count.txt": "12\n"},
    ),
    # --- knowing when not to call a tool
    EvalTask(
        "no-tool-capital",
        "no_tool",
        "What is the capital of France? Answer from your own knowledge; no tools needed.",
        answer=("paris",),
    ),
    EvalTask(
        "no-tool-greeting",
        "no_tool",
        "Hi! Just say hello back to me.",
        answer=(("hello", "hi"),),
    ),
    EvalTask(
        "no-tool-translate",
        "no_tool",
        "How do you say 'thank you' in French?",
        answer=("merci",),
    ),
    EvalTask(
        "no-tool-echo",
        "no_tool",
        "Reply with the single word done.",
        answer=("done",),
    ),
    # --- recovering from a tool error
    EvalTask(
        "recover-busy",
        "recovery",
        "What is the status of order 9003? The order service sometimes fails; if it does, "
        "try again.",
        (Expect("lookup_order", {"order_id": eq(9003)}),),
        ("delivered",),
    ),
    EvalTask(
        "recover-missing-file",
        "recovery",
        "Read the file report.txt and tell me the code word in it.",
        (Expect("read_file", {"path": path("docs/report.txt")}),),
        ("marmalade",),
        files={"docs/report.txt": "Code word: marmalade\n"},
    ),
    EvalTask(
        "recover-unknown-city",
        "recovery",
        "What's the weather in Lyon, France?",
        (Expect("get_weather", {"city": eq("Lyon")}),),
        ("11", "rain"),
    ),
)
