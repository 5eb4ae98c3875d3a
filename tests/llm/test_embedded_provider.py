"""The embedded SmolLM2 provider: constrained schemas, streaming reader, availability,
and one run of the real model (slow, but runs by default)."""

from __future__ import annotations

import asyncio
import ctypes
import json
import time
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from orchestrator.core.errors import LLMError, ModelNotFound, ProviderUnavailable
from orchestrator.llm._constrained import ResponseReader, bounded_schema, tool_choice_schema
from orchestrator.llm.base import Done, GenerationOptions, TextDelta, ToolCallChunk
from orchestrator.llm.embedded import MODEL_NAME, EmbeddedProvider, locate_model
from tests.support.llm_samples import CALCULATE, GET_DATETIME, collect, user


def test_tool_choice_schema_bounds_every_string_and_offers_an_answer() -> None:
    schema = tool_choice_schema([CALCULATE, GET_DATETIME])
    calc, clock, answer = schema["anyOf"]
    assert calc["properties"]["tool"] == {"enum": ["calculate"]}
    expression = calc["properties"]["params"]["properties"]["expression"]
    assert expression["maxLength"] > 0 and expression["minLength"] == 1
    assert "minLength" not in clock["properties"]["params"]["properties"]["timezone"]
    assert calc["properties"]["params"]["additionalProperties"] is False
    assert answer["required"] == ["response"]
    assert answer["properties"]["response"]["maxLength"] > 0


def test_bounded_schema_reaches_nested_arrays_and_leaves_the_original_alone() -> None:
    original: dict[str, Any] = {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
    }
    bounded = bounded_schema(original)
    assert bounded["properties"]["tags"]["maxItems"] > 0
    assert bounded["properties"]["tags"]["items"]["maxLength"] > 0
    assert "maxItems" not in original["properties"]["tags"]


def test_response_reader_streams_answer_text_across_split_escapes() -> None:
    raw = json.dumps({"response": 'Say "hi"\nthen é \\ done'})
    reader = ResponseReader()
    pieces = [reader.feed(raw[i : i + 1]) for i in range(len(raw))]
    assert "".join(pieces) == 'Say "hi"\nthen é \\ done'
    assert reader.streamed


def test_response_reader_stays_silent_for_a_tool_call() -> None:
    reader = ResponseReader()
    assert reader.feed('{"tool": "calculate", "params": {"expression": "1"}}') == ""
    assert not reader.streamed


async def test_provider_without_model_file_lists_nothing_and_says_why(tmp_path: Path) -> None:
    provider = EmbeddedProvider()
    provider.model_path, provider.unavailable_reason = None, "no gguf here"
    assert await provider.list_models() == []
    health = await provider.health()
    assert not health.ok and health.detail == "no gguf here"
    with pytest.raises(ProviderUnavailable, match="no gguf here"):
        await collect(provider.chat(MODEL_NAME, user("hi")))
    await provider.aclose()


async def test_provider_refuses_other_models_and_embeddings() -> None:
    provider = EmbeddedProvider()
    with pytest.raises(ModelNotFound):
        await collect(provider.chat("llama3", user("hi")))
    with pytest.raises(LLMError, match="does not make embeddings"):
        await provider.embed(MODEL_NAME, ["x"])
    await provider.aclose()


@pytest.mark.slow
async def test_real_model_completes_a_grammar_constrained_tool_call() -> None:
    path, reason = locate_model()
    assert path is not None, reason
    provider = EmbeddedProvider(path)
    [info] = await provider.list_models()
    assert info.demo and info.provider == "embedded" and info.name == MODEL_NAME

    # 1. Free text: first-token latency (includes loading) and throughput.
    started = time.perf_counter()
    first_token: float | None = None
    tokens = 0
    options = GenerationOptions(max_tokens=64, temperature=0.0, seed=1)
    async for chunk in provider.chat(MODEL_NAME, user("Tell me about the sea."), options=options):
        if isinstance(chunk, TextDelta):
            tokens += 1
            first_token = first_token or time.perf_counter() - started
    elapsed = time.perf_counter() - started
    assert provider.load_seconds is not None and tokens > 10
    assert first_token is not None
    rate = tokens / (elapsed - first_token)

    # 2. Tools: the grammar forces a valid call or an answer.
    tools = [CALCULATE, GET_DATETIME]
    schemas = {tool.name: jsonschema_rs.validator_for(tool.parameters) for tool in tools}
    prompt = user("Use the calculate tool to compute 12*7.")
    required = options.model_copy(update={"tool_choice": "required"})
    tool_started = time.perf_counter()
    chunks = await collect(provider.chat(MODEL_NAME, prompt, tools, options=required))
    tool_seconds = time.perf_counter() - tool_started
    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert len(calls) == 1, chunks
    assert calls[0].name in schemas
    assert schemas[calls[0].name].is_valid(calls[0].arguments), calls[0]
    done = chunks[-1]
    assert isinstance(done, Done)

    # 3. Cancellation: closing the stream stops the worker, so the next turn is not delayed.
    long = provider.chat(
        MODEL_NAME, user("Write a long story."), options=GenerationOptions(max_tokens=1500)
    )
    await anext(long)
    await long.aclose()  # type: ignore[attr-defined]
    cancel_started = time.perf_counter()
    short = GenerationOptions(max_tokens=4)
    await asyncio.wait_for(collect(provider.chat(MODEL_NAME, user("Hi"), options=short)), 10)
    after_cancel = time.perf_counter() - cancel_started
    await provider.aclose()

    print(
        f"\nembedded {MODEL_NAME}: load {provider.load_seconds:.2f} s, first token "
        f"{first_token:.2f} s (with load), {rate:.0f} tokens/s, tool call "
        f"{tool_seconds:.2f} s ({done.completion_tokens} tokens), next turn after "
        f"cancel {after_cancel:.2f} s"
    )
    assert after_cancel < 5


def test_grammar_bounds_stay_small_for_every_installed_tool() -> None:
    """llama.cpp spells `maxLength` out as nested optionals; a tool's own large limit (a
    file's content, a memory) once made the grammar thousands deep and crashed it."""
    from orchestrator.llm._constrained import PARAM_MAX_LENGTH
    from orchestrator.tools.registry import ToolRegistry

    def lengths(node: Any) -> list[int]:
        if isinstance(node, dict):
            own = [node["maxLength"]] if "maxLength" in node else []
            return own + [n for v in node.values() for n in lengths(v)]
        if isinstance(node, list):
            return [n for v in node for n in lengths(v)]
        return []

    specs = ToolRegistry.from_entry_points().specs()
    schema = tool_choice_schema(specs, allow_answer=True)
    found = lengths(schema)
    assert found and max(found) <= 800  # parameters at most PARAM_MAX_LENGTH, the answer 800
    assert all(n <= PARAM_MAX_LENGTH for n in lengths(bounded_schema(specs[0].parameters)))


@pytest.mark.slow
async def test_real_model_takes_the_whole_tool_catalogue() -> None:
    """The default set-up with no Ollama: the bundled model constrained by every tool."""
    from orchestrator.tools.registry import ToolRegistry

    path, reason = locate_model()
    assert path is not None, reason
    provider = EmbeddedProvider(path)
    specs = ToolRegistry.from_entry_points().specs()
    options = GenerationOptions(max_tokens=96, temperature=0.0, seed=1, tool_choice="required")
    chunks = await collect(provider.chat(MODEL_NAME, user("Compute 12*7."), specs, options=options))
    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert len(calls) == 1 and calls[0].name in {s.name for s in specs}
    await provider.aclose()


def test_the_grammar_writes_the_tool_first_and_arguments_in_the_tools_order() -> None:
    """Sorted keys once made the model write `params` before `tool`: it wrote arguments for
    no tool in particular, and chose between `"params"` and `"response"` (prose) first."""
    from orchestrator.llm.base import ToolSpec
    from orchestrator.llm.embedded import grammar_source

    convert = ToolSpec(
        name="convert_units",
        description="Convert a value between units.",
        parameters={
            "type": "object",
            "properties": {
                "value": {"type": "number"},
                "from_unit": {"type": "string"},
                "to_unit": {"type": "string"},
            },
            "required": ["value", "from_unit", "to_unit"],
        },
    )
    rules = dict(
        line.split(" ::= ", 1)
        for line in grammar_source(tool_choice_schema([convert])).splitlines()
    )
    call = rules["alternative-0"]
    assert call.index("alternative-0-tool-kv") < call.index("alternative-0-params-kv"), call
    params = rules["alternative-0-params"]
    order = [
        params.index(f"alternative-0-params-{name.replace('_', '-')}-kv")
        for name in convert.parameters["properties"]
    ]
    assert order == sorted(order), params


def test_every_output_is_a_call_and_the_answer_is_the_call_of_a_pseudo_tool() -> None:
    """The choice between answering and calling is a choice among names, made first."""
    from orchestrator.llm._constrained import answer_tool_name, call_or_answer_schema
    from orchestrator.llm.embedded import grammar_source

    tools = [CALCULATE, GET_DATETIME]
    schema = call_or_answer_schema(tools, answer=answer_tool_name(tools))
    names = [option["properties"]["tool"]["enum"] for option in schema["anyOf"]]
    assert names == [["calculate"], ["get_datetime"], ["answer"]]
    assert all(list(option["properties"]) == ["tool", "params"] for option in schema["anyOf"])
    text = schema["anyOf"][-1]["properties"]["params"]["properties"]["text"]
    assert text["minLength"] == 1 and text["maxLength"] > 0
    root = next(line for line in grammar_source(schema).splitlines() if line.startswith("root"))
    assert root.count("|") == 2  # two tools and the answer, nothing else
    # Without an answer (tool_choice "required") only the tools; a real `answer` keeps its name.
    assert len(call_or_answer_schema(tools, answer=None)["anyOf"]) == 2
    taken = CALCULATE.model_copy(update={"name": "answer"})
    assert answer_tool_name([taken]) == "answer_user"


def test_the_answer_streams_out_of_the_pseudo_tools_call() -> None:
    from orchestrator.llm._constrained import answer_start
    from orchestrator.llm.embedded import _tool_outcome

    raw = json.dumps({"tool": "answer", "params": {"text": 'It is "42".'}})
    reader = ResponseReader(answer_start("answer"))
    assert "".join(reader.feed(raw[i : i + 2]) for i in range(0, len(raw), 2)) == 'It is "42".'
    assert _tool_outcome(reader, turn=1, answer="answer") == []  # streamed already
    call = '{"tool": "calculate", "params": {"expression": "6*7"}}'
    silent = ResponseReader(answer_start("answer"))
    assert silent.feed(call) == ""
    [chunk] = _tool_outcome(silent, turn=3, answer="answer")
    assert isinstance(chunk, ToolCallChunk)
    assert (chunk.call.name, chunk.call.arguments) == ("calculate", {"expression": "6*7"})
    # With tools required there is no answer: a reader that never streams.
    assert ResponseReader(None).feed(raw) == ""


def test_the_bundled_model_is_shown_a_short_tool_list() -> None:
    from orchestrator.llm.embedded import _prompt

    long = GET_DATETIME.model_copy(
        update={"description": "The current date and time. Give an IANA zone.\nMore text."}
    )
    [system, _] = _prompt(user("What time is it?"), [CALCULATE, long], None, "answer")
    assert "- calculate: Evaluate an arithmetic expression\n" in system.content
    assert "- get_datetime: The current date and time\n" in system.content
    assert "- answer: Reply to the user directly" in system.content
    assert "IANA" not in system.content and "expression (" not in system.content


class _CharModel:
    """A stand-in for llama.cpp's `Llama`, one token a byte: after the text of `head` it
    slightly prefers `f` to `r`, and it is sure of every character of `read_file"` once
    `r` is written, of none of `file_info"`'s after `f`."""

    def __init__(self, head: str) -> None:
        import numpy as np

        self.head = head
        self.input_ids = np.zeros(1024, dtype=np.intc)
        self.n_tokens = 0
        self.decoded = 0  # tokens decoded, the cost of the choice
        self._ctx = self
        self._logits = (ctypes.c_float * 256)()

    def n_vocab(self) -> int:
        return 256

    def tokenize(self, text: bytes, special: bool = True) -> list[int]:
        return list(text)

    def eval(self, tokens: list[int]) -> None:
        self.input_ids[self.n_tokens : self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)
        self.decoded += len(tokens)
        text = bytes(self.input_ids[: self.n_tokens].tolist()).decode()
        for i in range(256):
            self._logits[i] = 0.0
        if text == self.head:
            self._logits[ord("f")], self._logits[ord("r")] = 3.0, 2.0
        elif text.startswith(self.head + "r") and len(text) < len(self.head + 'read_file"'):
            self._logits[b'read_file"'[len(text) - len(self.head)]] = 20.0

    def get_logits_ith(self, i: int) -> Any:
        return ctypes.cast(self._logits, ctypes.POINTER(ctypes.c_float))


def test_the_tool_is_chosen_by_its_whole_name_not_its_first_token() -> None:
    """Greedy decoding under the grammar takes the likeliest first token: `file`, when the
    request says "file", though the model then finds `file_info` unlikely. The name is
    chosen by the log-probability of all its tokens."""
    from orchestrator.llm.embedded import CALL_START, choose_name

    head = f"What does notes.txt say?\n{CALL_START}"
    model = _CharModel(head)
    assert choose_name(model, head, ["file_info", "read_file", "answer"]) == "read_file"  # type: ignore[arg-type]
    first = model.decoded
    assert first < len(head) + 3 * 12  # the prompt once, then each name's few tokens
    # A second step with the same start decodes only the part after the cached prefix.
    model.decoded = 0
    assert choose_name(model, head, ["read_file", "file_info"]) == "read_file"  # type: ignore[arg-type]
    assert model.decoded < len(head)
    assert choose_name(model, head, ["answer"]) == "answer"  # type: ignore[arg-type]


def test_each_name_of_the_call_schema_comes_with_its_parameters() -> None:
    from orchestrator.llm._constrained import call_or_answer_schema
    from orchestrator.llm.embedded import call_choices

    choices = call_choices(call_or_answer_schema([CALCULATE, GET_DATETIME], answer="answer"))
    assert list(choices) == ["calculate", "get_datetime", "answer"]
    assert choices["calculate"]["properties"]["tool"] == {"enum": ["calculate"]}
    assert "expression" in choices["calculate"]["properties"]["params"]["properties"]
    assert list(choices["answer"]["properties"]["params"]["properties"]) == ["text"]


def test_the_bundled_model_reads_a_result_with_the_request_it_serves() -> None:
    """Shown a bare result, it called the same tool again instead of answering."""
    from orchestrator.llm.base import ChatMessage, ToolCall
    from orchestrator.llm.embedded import _prompt

    call = ToolCall(id="c1", name="calculate", arguments={"expression": "6*7"})
    history = [
        *user("What is 6*7?"),
        ChatMessage(role="assistant", content="", tool_calls=[call]),
        ChatMessage(role="tool", content="42", tool_call_id="c1", name="calculate"),
    ]
    turns = _prompt(history, [CALCULATE], None, "answer")
    assert turns[-1].role == "user"
    assert turns[-1].content.startswith("Result of calculate:\n42\n")
    assert "My request: What is 6*7?" in turns[-1].content and "answer" in turns[-1].content
    # With tools required there is no answer to point to: the bare result.
    required = _prompt(history, [CALCULATE], None, None)
    assert required[-1].content == "Result of calculate:\n42"


def test_bounded_schema_reaches_the_definitions_that_refs_name() -> None:
    """The workflow's phases answer in pydantic models whose nested models are `$defs`:
    their texts are bounded too (2,000 characters each made a grammar llama.cpp could not
    parse, and the process died at the first token)."""
    from orchestrator.llm._constrained import PARAM_MAX_LENGTH
    from orchestrator.runs.workflow import Plan

    schema = bounded_schema(Plan.model_json_schema())
    step = schema["$defs"]["Step"]["properties"]
    assert step["instruction"]["maxLength"] == PARAM_MAX_LENGTH
    assert step["title"]["maxLength"] == PARAM_MAX_LENGTH
    assert schema["properties"]["steps"]["maxItems"] <= 10


@pytest.mark.slow
async def test_real_model_answers_in_a_workflow_phases_schema() -> None:
    """SPEC's structured answer on the bundled model (what `POST /runs` with the default
    agent asks first): before its texts were bounded, this killed the process."""
    from orchestrator.runs.workflow import Spec

    path, reason = locate_model()
    assert path is not None, reason
    provider = EmbeddedProvider(path)
    options = GenerationOptions(max_tokens=48, temperature=0.0, seed=1)
    prompt = user("Goal: create notes.txt containing 'hello'. State the goal and its criteria.")
    chunks = await collect(
        provider.chat(MODEL_NAME, prompt, json_schema=Spec.model_json_schema(), options=options)
    )
    text = "".join(c.text for c in chunks if isinstance(c, TextDelta))
    assert text.startswith('{"goal"') or text.lstrip().startswith('{ "goal"'), text
    assert isinstance(chunks[-1], Done)
    await provider.aclose()
