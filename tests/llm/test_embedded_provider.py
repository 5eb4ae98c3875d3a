"""The embedded SmolLM2 provider: constrained schemas, streaming reader, availability,
and one run of the real model (slow, but runs by default)."""

from __future__ import annotations

import asyncio
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
