"""ModelGateway: model listing and resolution, and native or text-protocol tool calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestrator.core.config import Settings
from orchestrator.core.errors import ModelNotFound
from orchestrator.llm.base import (
    ChatMessage,
    ChatProvider,
    Done,
    TextDelta,
    ThinkingDelta,
    ToolCallChunk,
)
from orchestrator.llm.embedded import MODEL_NAME, EmbeddedProvider
from orchestrator.llm.gateway import ModelGateway
from orchestrator.llm.ollama import OllamaProvider
from orchestrator.llm.openai_compat import OpenAICompatProvider
from tests.support.llm_samples import CALCULATE, collect, text_of, user
from tests.support.scripted_model import ScriptedModel, ScriptedModelServer, demo_reply

TOOL_BLOCK = '```tool\n{"tool": "calculate", "params": {"expression": "2+2"}}\n```'


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class GatewayFactory:
    """Builds gateways on the scripted server (as Ollama) plus the embedded model."""

    def __init__(self, tmp_path: Path, server: ScriptedModelServer) -> None:
        self.tmp_path, self.server = tmp_path, server
        self.made: list[ModelGateway] = []

    def __call__(
        self,
        ollama_url: str | None = None,
        *,
        openai: bool = False,
        clock: Clock | None = None,
        default_model: str | None = None,
        constrain: bool = True,
    ) -> ModelGateway:
        providers: list[ChatProvider] = [OllamaProvider(ollama_url or self.server.url)]
        if openai:
            providers.append(OpenAICompatProvider(self.server.openai_url))
        providers.append(EmbeddedProvider())
        settings = Settings(_env_file=None, data_dir=self.tmp_path, default_model=default_model)
        gateway = ModelGateway(
            settings, providers, clock=clock or Clock(), constrain_text_protocol=constrain
        )
        self.made.append(gateway)
        return gateway


@pytest.fixture
async def make_gateway(
    tmp_path: Path, server: ScriptedModelServer
) -> AsyncIterator[GatewayFactory]:
    """A gateway factory; every gateway it made is closed after the test."""
    factory = GatewayFactory(tmp_path, server)
    yield factory
    for gateway in factory.made:
        await gateway.aclose()


async def test_resolve_finds_the_provider_that_lists_the_model(
    make_gateway: GatewayFactory,
) -> None:
    provider, name = await make_gateway().resolve("scripted")
    assert (provider.name, name) == ("ollama", "scripted")


async def test_resolve_accepts_ollama_latest_tag(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    server.set_models(["llama3.2:latest"])
    _, name = await make_gateway().resolve("llama3.2")
    assert name == "llama3.2:latest"


async def test_resolve_raises_model_not_found_with_available_names(
    make_gateway: GatewayFactory,
) -> None:
    with pytest.raises(ModelNotFound, match=r"'missing'.*scripted, plain, nomic-embed"):
        await make_gateway().resolve("missing")


async def test_resolve_uses_default_model_setting_when_no_model_given(
    make_gateway: GatewayFactory,
) -> None:
    _, name = await make_gateway(default_model="plain").resolve(None)
    assert name == "plain"


async def test_resolve_prefers_first_ollama_model_with_tools(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    server.set_models([ScriptedModel("plain", ("completion",)), ScriptedModel("tooly")])
    _, name = await make_gateway(default_model="gone").resolve(None)
    assert name == "tooly"


async def test_resolve_takes_first_ollama_chat_model_when_none_has_tools(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    server.set_models(
        [ScriptedModel("embedder", ("embedding",)), ScriptedModel("plain", ("completion",))]
    )
    _, name = await make_gateway().resolve(None)
    assert name == "plain"


async def test_resolve_falls_back_to_embedded_model_when_ollama_is_down(
    make_gateway: GatewayFactory, closed_port_url: str
) -> None:
    gateway = make_gateway(closed_port_url)
    provider, name = await gateway.resolve(None)
    assert (provider.name, name) == ("embedded", MODEL_NAME)
    models = await gateway.list_models()
    assert [m.name for m in models] == [MODEL_NAME]
    assert models[0].demo
    with pytest.raises(ModelNotFound, match="cannot reach Ollama"):
        await gateway.resolve("scripted")


async def test_list_models_is_cached_for_a_few_seconds(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    clock = Clock()
    gateway = make_gateway(clock=clock)
    await gateway.list_models()
    await gateway.list_models()
    assert len([r for r in server.requests if r.path == "/api/tags"]) == 1
    clock.now += 10
    await gateway.list_models()
    assert len([r for r in server.requests if r.path == "/api/tags"]) == 2


async def test_resolve_follows_the_listing_once_it_is_refreshed(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    """What a call locates is remembered only while the listing it came from holds."""
    clock = Clock()
    gateway = make_gateway(clock=clock)
    assert (await gateway.resolve(None))[1] == "scripted"
    server.set_models([ScriptedModel("plain", ("completion",)), ScriptedModel("tooly")])
    assert (await gateway.resolve(None))[1] == "scripted"  # the listing is still fresh
    clock.now += 10
    assert (await gateway.resolve(None))[1] == "tooly"
    assert (await gateway.resolve("plain"))[1] == "plain"
    with pytest.raises(ModelNotFound):
        await gateway.resolve("scripted")


async def test_model_calls_resolve_without_asking_for_evaluation_scores(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    """The scores are a query of the database: the model list shows them, but a model call
    (or resolving a name) must not pay for them."""
    asked: list[int] = []

    async def scores() -> dict[str, float]:
        asked.append(1)
        return {"scripted": 0.75}

    gateway = make_gateway()
    gateway.eval_scores = scores
    server.enqueue(text="hello")
    await collect(gateway.chat(None, user("hi")))
    await gateway.resolve("scripted")
    assert asked == []
    listed = {m.name: m.eval_score for m in await gateway.list_models()}
    assert listed["scripted"] == 0.75 and asked == [1]


async def test_chat_passes_native_tool_calls_through(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    server.enqueue(tool_calls=[("calculate", {"expression": "2+2"})])
    chunks = await collect(make_gateway().chat("scripted", user("2+2?"), [CALCULATE]))
    assert isinstance(chunks[0], ToolCallChunk)
    assert server.chat_requests[-1].tool_names == ["calculate"]


async def test_chat_switches_to_text_protocol_on_400_and_remembers(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    server.set_models([ScriptedModel("old", capabilities=())])  # capabilities unknown: try native
    gateway = make_gateway()
    server.enqueue(text=f"I will calculate.\n{TOOL_BLOCK}")
    chunks = await collect(gateway.chat("old", user("2+2?"), [CALCULATE]))
    call = next(c.call for c in chunks if isinstance(c, ToolCallChunk))
    assert (call.name, call.arguments, call.id) == ("calculate", {"expression": "2+2"}, "call_1_0")
    assert text_of(chunks) == "I will calculate."
    assert isinstance(chunks[-1], Done)
    first, retry = server.chat_requests
    assert first.tool_names == ["calculate"]
    assert not retry.body.get("tools")
    assert '{"tool": "<tool name>"' in retry.messages[0]["content"]
    assert retry.body["format"]["anyOf"][0]["properties"]["tool"] == {"enum": ["calculate"]}
    assert gateway.uses_text_protocol("ollama", "old")

    server.enqueue(text="```response\nIt is 4.\n```")
    chunks = await collect(gateway.chat("old", user("again"), [CALCULATE]))
    assert text_of(chunks) == "It is 4."
    assert len(server.chat_requests) == 3
    assert not server.chat_requests[-1].body.get("tools")


async def test_chat_uses_text_protocol_directly_when_model_lacks_tools(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    server.enqueue(thinking="hmm", text=TOOL_BLOCK)
    chunks = await collect(make_gateway().chat("plain", user("2+2?"), [CALCULATE]))
    assert [type(c).__name__ for c in chunks] == ["ThinkingDelta", "ToolCallChunk", "Done"]
    assert len(server.chat_requests) == 1
    assert not server.chat_requests[0].body.get("tools")


async def test_chat_streams_constrained_json_answer_as_it_arrives(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    server.enqueue(text='{"response": "It is \\"4\\" today."}')
    chunks = await collect(make_gateway().chat("plain", user("2+2?"), [CALCULATE]))
    deltas = [c.text for c in chunks if isinstance(c, TextDelta)]
    assert "".join(deltas) == 'It is "4" today.'
    assert len(deltas) > 1


async def test_chat_reads_constrained_json_tool_call(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    server.enqueue(text='{"tool": "calculate", "params": {"expression": "9/3"}}')
    chunks = await collect(make_gateway().chat("plain", user("9/3?"), [CALCULATE]))
    calls = [c.call for c in chunks if isinstance(c, ToolCallChunk)]
    assert [(c.name, c.arguments) for c in calls] == [("calculate", {"expression": "9/3"})]


async def test_chat_uses_fenced_protocol_when_constraint_is_off(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    server.enqueue(text=TOOL_BLOCK)
    chunks = await collect(make_gateway(constrain=False).chat("plain", user("2+2"), [CALCULATE]))
    assert any(isinstance(c, ToolCallChunk) for c in chunks)
    request = server.chat_requests[-1]
    assert "```tool" in request.messages[0]["content"]
    assert "format" not in request.body


async def test_chat_flushes_unclosed_block_before_done(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    server.enqueue(text='```tool\n{"tool": "calculate", "params": {"expression": "1"}}')
    chunks = await collect(make_gateway().chat("plain", user("1"), [CALCULATE]))
    assert [type(c).__name__ for c in chunks] == ["ToolCallChunk", "Done"]


async def test_chat_falls_back_to_text_protocol_on_openai_compatible_server(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    server.set_models([ScriptedModel("compat-plain", ("completion",))])
    gateway = make_gateway("http://127.0.0.1:9", openai=True)
    server.enqueue(text=TOOL_BLOCK)
    chunks = await collect(gateway.chat("compat-plain", user("2+2"), [CALCULATE]))
    assert any(isinstance(c, ToolCallChunk) for c in chunks)
    assert gateway.uses_text_protocol("openai", "compat-plain")


async def test_chat_with_no_model_uses_the_default(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    server.enqueue(thinking="a", text="hello")
    chunks = await collect(make_gateway().chat(None, user("hi"), think=True))
    assert isinstance(chunks[0], ThinkingDelta)
    assert server.chat_requests[-1].body["model"] == "scripted"


async def test_embed_and_health_cover_every_provider(
    make_gateway: GatewayFactory, server: ScriptedModelServer
) -> None:
    gateway = make_gateway()
    vectors = await gateway.embed("nomic-embed", ["x"])
    assert len(vectors) == 1
    health = {h.provider: h for h in await gateway.health()}
    assert health["ollama"].ok
    assert health["embedded"].ok


@pytest.mark.parametrize("model_name", ["scripted", "plain"])
async def test_chat_completes_demo_calculation_natively_or_by_text(
    make_gateway: GatewayFactory, server: ScriptedModelServer, model_name: str
) -> None:
    server.default = demo_reply
    gateway = make_gateway()
    history = user("Please calculate 6*7")
    chunks = await collect(gateway.chat(model_name, history, [CALCULATE]))
    call = next(c.call for c in chunks if isinstance(c, ToolCallChunk))
    assert (call.name, call.arguments) == ("calculate", {"expression": "6*7"})
    history += [
        ChatMessage(role="assistant", tool_calls=[call]),
        ChatMessage(role="tool", content="42", tool_call_id=call.id, name="calculate"),
    ]
    answer = await collect(gateway.chat(model_name, history, [CALCULATE]))
    assert text_of(answer) == "The result is 42."
    assert gateway.uses_text_protocol("ollama", model_name) == (model_name == "plain")
