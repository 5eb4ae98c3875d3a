"""The text tool protocol: prompt section, history conversion, incremental parser."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.llm._json_repair import loads_lenient
from orchestrator.llm.base import (
    ChatMessage,
    InvalidToolCall,
    StreamChunk,
    TextDelta,
    ToolCall,
    ToolCallChunk,
)
from orchestrator.llm.text_protocol import (
    TextProtocolParser,
    render_tool_section,
    to_text_messages,
)
from tests.support.llm_samples import CALCULATE, GET_DATETIME


def parse(text: str, cuts: list[int] | None = None) -> list[StreamChunk]:
    """Feed `text` split at `cuts` (positions), then finish."""
    parser = TextProtocolParser()
    chunks: list[StreamChunk] = []
    start = 0
    for cut in sorted(set(cuts or [])):
        chunks += parser.feed(text[start:cut])
        start = cut
    chunks += parser.feed(text[start:])
    return chunks + parser.finish()


def normal(chunks: list[StreamChunk]) -> list[Any]:
    """Chunks with adjacent text merged, comparable across splits."""
    out: list[Any] = []
    for chunk in chunks:
        if isinstance(chunk, TextDelta):
            if out and isinstance(out[-1], str):
                out[-1] += chunk.text
            else:
                out.append(chunk.text)
        else:
            out.append(chunk.model_dump())
    return [item for item in out if item != ""]


def calls(chunks: list[StreamChunk]) -> list[tuple[str, dict[str, Any]]]:
    return [(c.call.name, c.call.arguments) for c in chunks if isinstance(c, ToolCallChunk)]


def text(chunks: list[StreamChunk]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextDelta))


# -- examples -------------------------------------------------------------------------
def test_parser_yields_tool_call_when_block_follows_prose() -> None:
    chunks = parse(
        'I will compute.\n```tool\n{"tool": "calculate", "params": {"expression": "2+2"}}\n```\n'
    )
    assert text(chunks) == "I will compute."
    assert calls(chunks) == [("calculate", {"expression": "2+2"})]
    assert [c.call.id for c in chunks if isinstance(c, ToolCallChunk)] == ["call_0"]


def test_parser_streams_response_content_before_block_closes() -> None:
    parser = TextProtocolParser()
    early = parser.feed("```response\nThe answer is ")
    assert text(early) == "The answer is"
    rest = parser.feed("4.\nReally.\n```") + parser.finish()
    assert text(early + rest) == "The answer is 4.\nReally."


def test_parser_accepts_json_fence_when_object_has_tool_key() -> None:
    chunks = parse('```json\n{"tool": "get_datetime", "params": {}}\n```')
    assert calls(chunks) == [("get_datetime", {})]
    assert text(chunks) == ""


def test_parser_keeps_json_fence_as_text_when_object_is_not_a_call() -> None:
    block = '```json\n{"name": "x"}\n```'
    assert text(parse(f"Here:\n{block}")) == f"Here:\n{block}"


def test_parser_repairs_single_quotes_and_trailing_commas() -> None:
    chunks = parse("```tool\n{'tool': 'calculate', 'params': {'expression': '3*3',},}\n```")
    assert calls(chunks) == [("calculate", {"expression": "3*3"})]


def test_parser_yields_tool_call_when_bare_object_is_the_whole_answer() -> None:
    assert calls(parse('  {"tool": "calculate", "params": {"expression": "1"}}')) == [
        ("calculate", {"expression": "1"})
    ]


def test_parser_accepts_unclosed_block_at_end_of_stream() -> None:
    chunks = parse('```tool\n{"tool": "calculate", "params": {"expression": "5"}}')
    assert calls(chunks) == [("calculate", {"expression": "5"})]


def test_parser_ignores_fences_inside_json_strings() -> None:
    content = "# Title\n```python\nprint(1)\n```\n"
    call = json.dumps({"tool": "write_file", "params": {"path": "a.md", "content": content}})
    chunks = parse(f"```tool\n{call}\n```\nDone.")
    assert calls(chunks) == [("write_file", {"path": "a.md", "content": content})]
    assert text(chunks).strip() == "Done."


def test_parser_passes_other_code_blocks_through_as_text() -> None:
    doc = 'Run this:\n```python\nprint("```")\nx = {"tool": 1}\n```\nThen stop.'
    assert text(parse(doc)) == doc


def test_parser_keeps_code_blocks_nested_in_a_response() -> None:
    doc = "```response\nUse:\n```sh\nls -l\n```\nThat is all.\n```"
    assert text(parse(doc)) == "Use:\n```sh\nls -l\n```\nThat is all."


@pytest.mark.parametrize(
    ("block", "needle"),
    [
        ('{"tool": "calculate", "params": {"expression": }', "not valid JSON"),
        ('{"params": {"expression": "1"}}', '"tool" key'),
        ('{"tool": "calculate", "params": ["1"]}', '"params" must be a JSON object'),
        ('["calculate"]', "one JSON object"),
    ],
)
def test_parser_yields_invalid_tool_call_with_reason_when_block_is_broken(
    block: str, needle: str
) -> None:
    chunks = parse(f"```tool\n{block}\n```\n")
    invalid = [c for c in chunks if isinstance(c, InvalidToolCall)]
    assert len(invalid) == 1
    assert needle in invalid[0].error
    assert invalid[0].raw == block


def test_parser_streams_bare_json_answer_while_its_string_arrives() -> None:
    parser = TextProtocolParser()
    early = parser.feed('{"response": "Caf\\u00e9 is ')
    assert text(early) == "Café is"
    rest = parser.feed('open\\n", "mood": {"x": "}"}}  Bye') + parser.finish()
    assert text(early + rest) == "Café is open\n  Bye"


def test_parser_numbers_successive_calls_with_its_prefix() -> None:
    parser = TextProtocolParser(id_prefix="call_7")
    one = '```tool\n{"tool": "a", "params": {}}\n```\n'
    chunks = parser.feed(one + one) + parser.finish()
    assert [c.call.id for c in chunks if isinstance(c, ToolCallChunk)] == ["call_7_0", "call_7_1"]


def test_loads_lenient_repairs_python_literals_and_missing_braces() -> None:
    assert loads_lenient("{'a': True, 'b': None, 'c': [1, 2,]") == {
        "a": True,
        "b": None,
        "c": [1, 2],
    }
    with pytest.raises(ValueError, match="not valid JSON"):
        loads_lenient("no json here")


# -- properties -----------------------------------------------------------------------
FUZZ_ALPHABET = st.sampled_from(
    [
        *"ab `{}\"':,\n\\u",
        "```",
        "```tool\n",
        "```response\n",
        "```json\n",
        '{"response": "',
        "\\u00e9",
    ]
)
fuzz_text = st.lists(FUZZ_ALPHABET, max_size=60).map("".join)
json_scalars = st.one_of(st.integers(-1000, 1000), st.booleans(), st.none(), st.text(max_size=20))
params_strategy = st.dictionaries(
    st.text("abcdefghij_", min_size=1, max_size=8), json_scalars, max_size=4
)
tool_names = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
prose = st.text(st.characters(codec="utf-8", exclude_characters="`{"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(doc=fuzz_text, cuts=st.lists(st.integers(0, 200), max_size=12))
def test_parser_output_is_the_same_when_split_anywhere(doc: str, cuts: list[int]) -> None:
    assert normal(parse(doc, [c for c in cuts if c <= len(doc)])) == normal(parse(doc))


@settings(max_examples=200, deadline=None)
@given(
    before=prose,
    after=prose,
    name=tool_names,
    params=params_strategy,
    cuts=st.lists(st.integers(0, 400), max_size=10),
)
def test_parser_recovers_the_exact_call_wherever_deltas_split(
    before: str, after: str, name: str, params: dict[str, Any], cuts: list[int]
) -> None:
    block = json.dumps({"tool": name, "params": params})
    doc = f"{before}\n```tool\n{block}\n```\n{after}"
    chunks = parse(doc, [c for c in cuts if c <= len(doc)])
    assert calls(chunks) == [(name, params)]
    assert not [c for c in chunks if isinstance(c, InvalidToolCall)]


@settings(max_examples=200, deadline=None)
@given(
    answer=st.text(
        st.characters(codec="utf-8", exclude_characters="`"),
        min_size=1,
        max_size=80,
    ),
    cuts=st.lists(st.integers(0, 120), max_size=10),
)
def test_parser_streams_the_response_verbatim_up_to_surrounding_whitespace(
    answer: str, cuts: list[int]
) -> None:
    doc = f"```response\n{answer}\n```"
    chunks = parse(doc, [c for c in cuts if c <= len(doc)])
    assert text(chunks) == answer.strip()


# -- prompt and history ---------------------------------------------------------------
def test_render_tool_section_describes_protocol_and_parameters() -> None:
    section = render_tool_section([CALCULATE, GET_DATETIME])
    assert "```tool" in section and "```response" in section
    assert "- calculate: Evaluate an arithmetic expression." in section
    assert "expression (string, required): for example 2+2" in section
    assert "timezone (string, optional)" in section


def test_to_text_messages_turns_tool_history_into_plain_turns() -> None:
    history = [
        ChatMessage(role="system", content="You are helpful."),
        ChatMessage(role="user", content="2+2 and the time?"),
        ChatMessage(
            role="assistant",
            content="Let me check.",
            tool_calls=[
                ToolCall(id="a", name="calculate", arguments={"expression": "2+2"}),
                ToolCall(id="b", name="get_datetime", arguments={}),
            ],
        ),
        ChatMessage(role="tool", content="4", tool_call_id="a", name="calculate"),
        ChatMessage(role="tool", content="noon", tool_call_id="b", name="get_datetime"),
    ]
    out = to_text_messages(history, [CALCULATE, GET_DATETIME])
    assert [m.role for m in out] == ["system", "user", "assistant", "user"]
    assert out[0].content.startswith("You are helpful.\n\n## Tools")
    assert out[2].content.startswith("Let me check.\n```tool\n")
    assert '{"tool": "calculate", "params": {"expression": "2+2"}}' in out[2].content
    assert out[3].content == "Result of calculate:\n4\n\nResult of get_datetime:\nnoon"
    assert all(not m.tool_calls and m.tool_call_id is None for m in out)


def test_to_text_messages_adds_a_system_message_when_there_is_none() -> None:
    out = to_text_messages([ChatMessage(role="user", content="hi")], [CALCULATE])
    assert out[0].role == "system"
    assert "calculate" in out[0].content
    assert out[1].content == "hi"


def test_text_history_round_trips_through_the_parser() -> None:
    call = ToolCall(id="x", name="calculate", arguments={"expression": "6*7"})
    history = [ChatMessage(role="assistant", tool_calls=[call])]
    rendered = to_text_messages(history, None)[0].content
    assert calls(parse(rendered)) == [("calculate", {"expression": "6*7"})]
