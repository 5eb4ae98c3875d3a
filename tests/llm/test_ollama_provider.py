"""OllamaProvider against the scripted model over real HTTP."""

from __future__ import annotations

import asyncio
import json

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
    GenerationOptions,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolCallChunk,
)
from orchestrator.llm.ollama import OllamaProvider
from tests.support.llm_samples import CALCULATE, GET_DATETIME, collect, text_of, user
from tests.support.scripted_model import ScriptedModelServer


async def test_chat_streams_text_tokens_when_answering(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue(text="Hello from the scripted model")
    chunks = await collect(ollama.chat("scripted", user("hi")))
    deltas = [c for c in chunks if isinstance(c, TextDelta)]
    assert len(deltas) == 5
    assert text_of(chunks) == "Hello from the scripted model"
    done = chunks[-1]
    assert isinstance(done, Done)
    assert done.finish_reason == "stop"
    assert done.completion_tokens == 5
    assert done.prompt_tokens == 1


async def test_chat_streams_thinking_before_text_when_think_is_on(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue(thinking="Two and two make four.", text="4")
    chunks = await collect(ollama.chat("scripted", user("2+2?"), think=True))
    thinking = "".join(c.text for c in chunks if isinstance(c, ThinkingDelta))
    assert thinking == "Two and two make four."
    assert isinstance(chunks[0], ThinkingDelta)
    assert text_of(chunks) == "4"
    assert server.chat_requests[-1].body["think"] is True


async def test_chat_retries_without_think_when_model_cannot_think(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue(text="fine")
    chunks = await collect(ollama.chat("plain", user("hi"), think=True))
    assert text_of(chunks) == "fine"
    sent = [r.body.get("think") for r in server.chat_requests]
    assert sent == [True, None]


async def test_chat_sends_native_tools_and_yields_tool_calls_with_ids(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue(
        tool_calls=[("calculate", {"expression": "2+2"}), ("get_datetime", {"timezone": "UTC"})]
    )
    chunks = await collect(
        ollama.chat("scripted", user("2+2 and time?"), [CALCULATE, GET_DATETIME])
    )
    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert [(c.name, c.arguments) for c in calls] == [
        ("calculate", {"expression": "2+2"}),
        ("get_datetime", {"timezone": "UTC"}),
    ]
    assert len({c.id for c in calls}) == 2
    request = server.chat_requests[-1]
    assert request.tool_names == ["calculate", "get_datetime"]
    assert request.body["tools"][0]["function"]["parameters"]["required"] == ["expression"]


async def test_chat_gives_the_same_call_ids_when_history_is_replayed(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    for _ in range(2):
        server.enqueue(tool_calls=[("calculate", {"expression": "1"})])
    first = await collect(ollama.chat("scripted", user("x"), [CALCULATE]))
    second = await collect(ollama.chat("scripted", user("x"), [CALCULATE]))
    assert first[0] == second[0]


async def test_chat_sends_history_with_tool_calls_and_results(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue(text="It is 4.")
    history = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="2+2?"),
        ChatMessage(
            role="assistant",
            tool_calls=[ToolCall(id="call_1_0", name="calculate", arguments={"expression": "2+2"})],
        ),
        ChatMessage(role="tool", content="4", tool_call_id="call_1_0", name="calculate"),
    ]
    await collect(ollama.chat("scripted", history, [CALCULATE]))
    sent = server.chat_requests[-1].messages
    assert sent[2]["tool_calls"] == [
        {"function": {"name": "calculate", "arguments": {"expression": "2+2"}}}
    ]
    assert sent[3] == {"role": "tool", "content": "4", "tool_name": "calculate"}


async def test_chat_passes_json_schema_as_format_and_options(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    server.enqueue(text='{"ok": true}')
    options = GenerationOptions(temperature=0.1, max_tokens=20, seed=7)
    await collect(ollama.chat("scripted", user("json"), json_schema=schema, options=options))
    body = server.chat_requests[-1].body
    assert body["format"] == schema
    assert body["options"] == {"temperature": 0.1, "num_predict": 20, "seed": 7}


async def test_chat_raises_tools_not_supported_before_any_chunk_on_ollama_400(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    stream = ollama.chat("plain", user("hi"), [CALCULATE])
    with pytest.raises(ToolsNotSupported):
        await anext(stream)


async def test_chat_raises_tools_not_supported_on_scripted_400(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue(error=(400, "registry.ollama.ai/library/scripted does not support tools"))
    with pytest.raises(ToolsNotSupported):
        await collect(ollama.chat("scripted", user("hi"), [CALCULATE]))


async def test_chat_raises_model_not_found_when_model_is_missing(ollama: OllamaProvider) -> None:
    with pytest.raises(ModelNotFound, match="nope"):
        await collect(ollama.chat("nope", user("hi")))


async def test_chat_raises_llm_error_with_reason_on_server_error(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue(error=(500, "out of memory"))
    with pytest.raises(LLMError, match="out of memory"):
        await collect(ollama.chat("scripted", user("hi")))


async def test_chat_fails_loudly_when_no_reply_is_queued(ollama: OllamaProvider) -> None:
    with pytest.raises(LLMError, match="no reply queued"):
        await collect(ollama.chat("scripted", user("hi")))


async def test_chat_raises_provider_unavailable_when_server_is_down(closed_port_url: str) -> None:
    provider = OllamaProvider(closed_port_url)
    with pytest.raises(ProviderUnavailable, match=f"cannot reach Ollama at {closed_port_url}"):
        await collect(provider.chat("scripted", user("hi")))
    with pytest.raises(ProviderUnavailable):
        await provider.list_models()
    health = await provider.health()
    assert not health.ok
    assert closed_port_url in health.detail
    await provider.aclose()


async def test_chat_raises_stream_interrupted_when_connection_drops_mid_answer(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue(text="one two three four five", cut_after=2)
    received: list[str] = []
    with pytest.raises(StreamInterrupted):
        async for chunk in ollama.chat("scripted", user("count")):
            if isinstance(chunk, TextDelta):
                received.append(chunk.text)
    assert "".join(received) == "one two"


async def test_chat_raises_stream_interrupted_when_stream_ends_without_done(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue(tool_calls=[("calculate", {"expression": "1"})], cut_after=0)
    with pytest.raises(StreamInterrupted):
        await collect(ollama.chat("scripted", user("x"), [CALCULATE]))


async def test_chat_streams_thousands_of_tokens_when_answer_is_long(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    words = [f"w{i}" for i in range(5000)]
    server.enqueue(text=" ".join(words))
    chunks = await collect(ollama.chat("scripted", user("long")))
    assert len(chunks) == 5001
    assert text_of(chunks).split() == words


async def test_chat_stops_the_request_when_consumer_stops_early(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue(text="a b c d e f g h", token_delay=0.05)
    stream = ollama.chat("scripted", user("x"))
    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]
    assert isinstance(first, TextDelta)
    server.enqueue(text="next")  # the connection pool still works afterwards
    assert text_of(await asyncio.wait_for(collect(ollama.chat("scripted", user("y"))), 5)) == "next"


async def test_list_models_reports_capabilities_and_caches_show(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    models = await ollama.list_models()
    by_name = {m.name: m for m in models}
    assert by_name["scripted"].capabilities == ["completion", "tools", "thinking"]
    assert by_name["plain"].capabilities == ["completion"]
    assert by_name["scripted"].context_length == 8192
    assert all(m.provider == "ollama" and not m.demo for m in models)
    await ollama.list_models()
    shows = [r for r in server.requests if r.path == "/api/show"]
    assert len(shows) == 3


async def test_embed_returns_one_vector_per_text(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    vectors = await ollama.embed("nomic-embed", ["alpha", "beta", "alpha"])
    assert len(vectors) == 3
    assert vectors[0] == vectors[2] != vectors[1]
    assert server.requests[-1].body["input"] == ["alpha", "beta", "alpha"]


async def test_embed_raises_model_not_found_for_unknown_model(ollama: OllamaProvider) -> None:
    with pytest.raises(ModelNotFound):
        await ollama.embed("nope", ["x"])


async def test_health_reports_version_when_server_answers(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    health = await ollama.health()
    assert health.ok
    assert "0.12.0-scripted" in health.detail


async def test_chat_reuses_its_connection_for_the_next_turn(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue(tool_calls=[("calculate", {"expression": "2+2"})])
    server.enqueue(text="It is 4")
    await collect(ollama.chat("scripted", user("2+2?"), [CALCULATE]))
    await collect(ollama.chat("scripted", user("2+2?"), [CALCULATE]))
    first, second = server.chat_requests[-2:]
    assert first.client_port is not None
    assert second.client_port == first.client_port  # not a new TCP connection per turn


async def test_chat_reports_usage_counts_after_tool_calls(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue(text="Let me count", tool_calls=[("calculate", {"expression": "1+1"})])
    chunks = await collect(ollama.chat("scripted", user("one two three"), [CALCULATE]))
    assert [type(c) for c in chunks] == [TextDelta, TextDelta, TextDelta, ToolCallChunk, Done]
    done = chunks[-1]
    assert isinstance(done, Done)
    assert (done.prompt_tokens, done.completion_tokens) == (3, 4)


def line(**part: object) -> bytes:
    return json.dumps(part).encode() + b"\n"


def said(text: str = "", **message: object) -> bytes:
    return line(message={"role": "assistant", "content": text, **message}, done=False)


DONE = line(message={"role": "assistant", "content": ""}, done=True, done_reason="stop")


async def test_chat_reads_lines_split_across_chunks_blank_ones_and_a_last_without_newline(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    calls = said(tool_calls=[{"function": {"name": "calculate", "arguments": {"x": "1"}}}])
    final = line(
        message={"role": "assistant", "content": ""},
        done=True,
        done_reason="stop",
        prompt_eval_count=7,
        eval_count=3,
    )
    server.enqueue_raw(
        said("Hel")[:20], said("Hel")[20:] + b"\n" + said("lo"), calls, final.rstrip()
    )
    chunks = await collect(ollama.chat("scripted", user("x"), think=True))
    assert text_of(chunks) == "Hello"
    assert [c.call for c in chunks if isinstance(c, ToolCallChunk)] == [
        ToolCall(id="call_1_0", name="calculate", arguments={"x": "1"})
    ]
    assert chunks[-1] == Done(finish_reason="stop", prompt_tokens=7, completion_tokens=3)


async def test_chat_reads_thinking_and_ignores_what_follows_the_last_line(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue_raw(said(thinking="hmm"), said("4"), DONE, said("late"))
    chunks = await collect(ollama.chat("scripted", user("x")))
    assert chunks == [ThinkingDelta(text="hmm"), TextDelta(text="4"), Done(finish_reason="stop")]


async def test_chat_raises_llm_error_on_an_error_line_before_any_output(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue_raw(line(error="model runner has unexpectedly stopped"))
    with pytest.raises(LLMError, match="failed: model runner has unexpectedly stopped") as caught:
        await collect(ollama.chat("scripted", user("x")))
    assert not isinstance(caught.value, StreamInterrupted)


async def test_chat_raises_stream_interrupted_on_an_error_line_mid_answer(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue_raw(said("partial"), line(error="out of memory"))
    with pytest.raises(StreamInterrupted, match="stopped mid-answer: out of memory"):
        await collect(ollama.chat("scripted", user("x")))


@pytest.mark.parametrize(
    "answer",
    [
        b"<html><body>Welcome to nginx</body></html>",
        line(status="ok"),
        line(message={"content": "no role"}),
        said(tool_calls=[{"function": {"arguments": {}}}]),
        said(tool_calls=[{"function": {"name": "calculate", "arguments": "1+1"}}]),
        b"[1, 2]\n",
    ],
)
async def test_chat_raises_not_api_when_the_answer_is_not_ollamas(
    server: ScriptedModelServer, ollama: OllamaProvider, answer: bytes
) -> None:
    server.enqueue_raw(answer)
    with pytest.raises(LLMError) as caught:
        await collect(ollama.chat("scripted", user("x")))
    assert caught.value.fields["reason"] == "not_api"


async def test_chat_raises_stream_interrupted_on_a_malformed_line_mid_answer(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    server.enqueue_raw(said("partial"), b"{not json\n")
    with pytest.raises(StreamInterrupted, match="broke off the answer"):
        await collect(ollama.chat("scripted", user("x")))


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, LLMError), (403, LLMError), (404, ModelNotFound), (500, LLMError)],
)
async def test_chat_maps_http_errors_as_before(
    server: ScriptedModelServer, ollama: OllamaProvider, status: int, error: type[Exception]
) -> None:
    server.enqueue_raw(line(error="nope"), status=status)
    with pytest.raises(error, match="nope" if status >= 404 else "credentials"):
        await collect(ollama.chat("scripted", user("x")))


async def test_chat_sends_the_api_key_and_reads_a_bare_host_as_ollama_does(
    server: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = server.url.removeprefix("http://")
    for provider in [OllamaProvider(bare, api_key="s3cret"), OllamaProvider(f"{server.url}/")]:
        server.enqueue(text="hi")
        await collect(provider.chat("scripted", user("x")))
        await provider.aclose()
        monkeypatch.setenv("OLLAMA_API_KEY", "from-env")
    sent = server.chat_requests[-2:]
    assert [r.headers["authorization"] for r in sent] == ["Bearer s3cret", "Bearer from-env"]
    assert all(r.headers["content-type"] == "application/json" for r in sent)
    assert sent[0].body["stream"] is True


async def test_chat_reads_a_line_longer_than_aiohttps_line_limit(
    server: ScriptedModelServer, ollama: OllamaProvider
) -> None:
    content = "x" * 300_000  # a file a model writes in one tool call: one line
    server.enqueue(tool_calls=[("write_file", {"path": "a.txt", "content": content})])
    chunks = await collect(ollama.chat("scripted", user("write it"), [CALCULATE]))
    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert calls[0].arguments["content"] == content


async def test_chat_raises_stream_interrupted_when_the_model_stalls_mid_answer(
    server: ScriptedModelServer,
) -> None:
    provider = OllamaProvider(server.url, timeout=0.3)
    server.enqueue(text="one two three", token_delay=1.0)
    received: list[str] = []
    with pytest.raises(StreamInterrupted):
        async for chunk in provider.chat("scripted", user("count")):
            if isinstance(chunk, TextDelta):
                received.append(chunk.text)
    assert received == ["one"]
    await provider.aclose()


async def test_chat_works_from_a_second_event_loop(server: ScriptedModelServer) -> None:
    """A gateway serves the app's loop and a test's (or a thread's): each gets a session."""
    provider = OllamaProvider(server.url)
    server.enqueue(text="first")
    assert text_of(await collect(provider.chat("scripted", user("x")))) == "first"

    def elsewhere() -> str:
        async def call() -> str:
            server.enqueue(text="second")
            text = text_of(await collect(provider.chat("scripted", user("y"))))
            await provider.aclose()
            return text

        return asyncio.run(call())

    assert await asyncio.to_thread(elsewhere) == "second"
    await provider.aclose()


async def test_chat_goes_through_the_proxy_the_environment_names(
    server: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url)  # the scripted model plays the proxy
    provider = OllamaProvider("http://ollama.invalid:11434")
    server.enqueue(text="proxied")
    assert text_of(await collect(provider.chat("scripted", user("x")))) == "proxied"
    assert server.chat_requests[-1].headers["host"] == "ollama.invalid:11434"
    await provider.aclose()
