"""A tool's regex pattern reaches llama.cpp's grammar builder in a form it parses: `\\d`
in a pattern used to crash the whole process (SIGSEGV) when the embedded model was
offered the tool."""

from __future__ import annotations

import json

from llama_cpp.llama_grammar import LlamaGrammar

from orchestrator.evals import EVAL_TOOLS
from orchestrator.llm._constrained import bounded_schema, grammar_pattern, tool_choice_schema


def test_class_escapes_become_sets() -> None:
    assert grammar_pattern(r"^\d{4}-\d{2}$") == "^[0-9]{4}-[0-9]{2}$"
    assert grammar_pattern(r"^\w+\s\w+$") == "^[A-Za-z0-9_]+[ ][A-Za-z0-9_]+$"
    assert grammar_pattern(r"^[A-Za-z0-9_+\-]+$") == r"^[A-Za-z0-9_+\-]+$"  # untouched
    assert grammar_pattern(r"^[\d.]+$") is None  # inside a set: dropped, length still bounds
    schema = bounded_schema({"type": "string", "pattern": r"^[\d.]+$"})
    assert "pattern" not in schema and schema["maxLength"] > 0


def test_nested_tools_with_digit_patterns_build_a_grammar() -> None:
    schema = tool_choice_schema([t.spec() for t in EVAL_TOOLS])
    assert "$ref" not in json.dumps(schema)  # nested models are written in place
    grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    assert grammar is not None
