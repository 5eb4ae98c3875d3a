"""OpenAICompatProvider against the scripted model's /v1 over real HTTP."""

from __future__ import annotations

import pytest

from orchestrator.core.errors import (
    LLMError,
    ModelNotFound,
    ProviderUnavailable,
    StreamInterrupted,
    ToolsNotSupported,
)
from orchestrator.llm.base import (
    ChatMessage,
    Done,
    InvalidToolCall,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolCallChunk,
)
from orchestrator.llm.openai_compat import OpenAICompatProvider
from tests.support.llm_samples import CALCULATE, GET_DATETIME, collect, text_of, user
from tests.support.scripted_model import ScriptedModelServer


async def test_chat_streams_text_and_usage_when_answering(
    server: ScriptedModelServer, openai_compat: OpenAICompatProvider
) -> None:
    server.enqueue(text="Hello over SSE")
    chunks = await collect(openai_compat.chat("scripted", user("hi there")))
    assert [c.text for c in chunks if isinstance(c, TextDelta)] == ["Hello", " over", " SSE"]
    done = chunks[-1]
    assert isinstance(done, Done)
    assert (done.finish_reason, done.prompt_tokens, done.completion_tokens) == ("stop", 2, 3)
    assert server.chat_requests[-1].body["stream_options"] == {"include_usage": True}


async def test_chat_yields_reasoning_content_as_thinking(
    server: ScriptedModelServer, openai_compat: OpenAICompatProvider
) -> None:
    server.enqueue(thinking="Short thought.", text="Done.")
    chunks = await collect(openai_compat.chat("scripted", user("hi")))
    assert "".join(c.text for c in chunks if isinstance(c, ThinkingDelta)) == "Short thought."
    assert text_of(chunks) == "Done."


async def test_chat_joins_tool_call_deltas_into_whole_calls(
    server: ScriptedModelServer, openai_compat: OpenAICompatProvider
) -> None:
    server.enqueue(
        tool_calls=[
            ("calculate", {"expression": "(1 + 2) * 3"}),
            ("get_datetime", {"timezone": "Europe/Paris"}),
        ]
    )
    chunks = await collect(openai_compat.chat("scripted", user("x"), [CALCULATE, GET_DATETIME]))
    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert calls == [
        ToolCall(id="call_0", name="calculate", arguments={"expression": "(1 + 2) * 3"}),
        ToolCall(id="call_1", name="get_datetime", arguments={"timezone": "Europe/Paris"}),
    ]
    done = chunks[-1]
    assert isinstance(done, Done)
    assert done.finish_reason == "tool_calls"
    assert server.chat_requests[-1].tool_names == ["calculate", "get_datetime"]


async def test_chat_yields_invalid_tool_call_when_arguments_are_not_json(
    server: ScriptedModelServer, openai_compat: OpenAICompatProvider
) -> None:
    server.enqueue(tool_calls=[("calculate", '{"expression": 2 +}')])
    chunks = await collect(openai_compat.chat("scripted", user("x"), [CALCULATE]))
    invalid = [c for c in chunks if isinstance(c, InvalidToolCall)]
    assert len(invalid) == 1
    assert "calculate" in invalid[0].raw
    assert "not valid JSON" in invalid[0].error


async def test_chat_sends_history_in_openai_shape(
    server: ScriptedModelServer, openai_compat: OpenAICompatProvider
) -> None:
    server.enqueue(text="4")
    history = [
        ChatMessage(role="user", content="2+2?"),
        ChatMessage(
            role="assistant",
            tool_calls=[ToolCall(id="c1", name="calculate", arguments={"expression": "2+2"})],
        ),
        ChatMessage(role="tool", content="4", tool_call_id="c1", name="calculate"),
    ]
    await collect(openai_compat.chat("scripted", history, [CALCULATE]))
    sent = server.chat_requests[-1].messages
    assert sent[1]["tool_calls"][0]["function"] == {
        "name": "calculate",
        "arguments": '{"expression": "2+2"}',
    }
    assert sent[2] == {"role": "tool", "content": "4", "tool_call_id": "c1"}


async def test_chat_passes_json_schema_as_response_format(
    server: ScriptedModelServer, openai_compat: OpenAICompatProvider
) -> None:
    server.enqueue(text="{}")
    schema = {"type": "object"}
    await collect(openai_compat.chat("scripted", user("x"), json_schema=schema))
    response_format = server.chat_requests[-1].body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["schema"] == schema


async def test_chat_raises_tools_not_supported_when_server_refuses_tools(
    openai_compat: OpenAICompatProvider,
) -> None:
    with pytest.raises(ToolsNotSupported):
        await collect(openai_compat.chat("plain", user("x"), [CALCULATE]))


async def test_chat_raises_model_not_found_when_model_is_missing(
    openai_compat: OpenAICompatProvider,
) -> None:
    with pytest.raises(ModelNotFound, match="nope"):
        await collect(openai_compat.chat("nope", user("x")))


async def test_chat_raises_llm_error_on_other_status(
    server: ScriptedModelServer, openai_compat: OpenAICompatProvider
) -> None:
    server.enqueue(error=(422, "bad temperature"))
    with pytest.raises(LLMError, match="bad temperature"):
        await collect(openai_compat.chat("scripted", user("x")))


async def test_chat_raises_provider_unavailable_when_server_is_down(closed_port_url: str) -> None:
    provider = OpenAICompatProvider(f"{closed_port_url}/v1")
    with pytest.raises(ProviderUnavailable, match="cannot reach"):
        await collect(provider.chat("scripted", user("x")))
    health = await provider.health()
    assert not health.ok
    await provider.aclose()


async def test_chat_raises_stream_interrupted_when_connection_drops_mid_answer(
    server: ScriptedModelServer, openai_compat: OpenAICompatProvider
) -> None:
    server.enqueue(text="one two three four", cut_after=3)
    received = []
    with pytest.raises(StreamInterrupted):
        async for chunk in openai_compat.chat("scripted", user("x")):
            received.append(chunk)
    assert text_of(received) == "one two three"


async def test_chat_streams_thousands_of_tokens_when_answer_is_long(
    server: ScriptedModelServer, openai_compat: OpenAICompatProvider
) -> None:
    words = [f"t{i}" for i in range(3000)]
    server.enqueue(text=" ".join(words))
    chunks = await collect(openai_compat.chat("scripted", user("long")))
    assert text_of(chunks).split() == words


async def test_list_models_and_embed_use_v1_endpoints(
    server: ScriptedModelServer, openai_compat: OpenAICompatProvider
) -> None:
    names = [m.name for m in await openai_compat.list_models()]
    assert names == ["scripted", "plain", "nomic-embed"]
    vectors = await openai_compat.embed("nomic-embed", ["a", "b"])
    assert len(vectors) == 2
    assert len(vectors[0]) == server.embedding_dim
    assert (await openai_compat.health()).ok
