"""The gateway over connections: a dead server never slows the list, names shared by two
connections are picked with `NAME@CONNECTION`, per-model settings apply."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from orchestrator.core.config import Settings
from orchestrator.llm.connections import ConnectionSpec, ModelSettings
from orchestrator.llm.gateway import ModelGateway
from orchestrator.llm.ollama import OllamaProvider
from tests.support.bad_servers import silent_server
from tests.support.llm_samples import CALCULATE, collect, user
from tests.support.scripted_model import ScriptedModelServer


class Source:
    """Connections held in memory, as the database store would give them."""

    def __init__(self, *specs: ConnectionSpec) -> None:
        self.version = 0
        self.list = list(specs)
        self.settings: dict[tuple[str, str], ModelSettings] = {}
        self.reads = 0

    async def specs(self) -> tuple[list[ConnectionSpec], dict[tuple[str, str], ModelSettings]]:
        self.reads += 1
        return list(self.list), dict(self.settings)

    def change(self) -> None:
        self.version += 1


@pytest.fixture
async def gateways(llm_settings: Settings) -> AsyncIterator[list[ModelGateway]]:
    made: list[ModelGateway] = []
    yield made
    for gateway in made:
        await gateway.aclose()


def gateway_on(
    made: list[ModelGateway], settings: Settings, source: Source, **options: float
) -> ModelGateway:
    gateway = ModelGateway(settings, connections=source, **options)  # type: ignore[arg-type]
    made.append(gateway)
    return gateway


async def test_a_silent_server_costs_one_timeout_then_nothing(
    gateways: list[ModelGateway], llm_settings: Settings, server: ScriptedModelServer
) -> None:
    with silent_server() as silent_url:
        source = Source(
            ConnectionSpec(id="a", kind="ollama", name="good", base_url=server.url),
            ConnectionSpec(id="b", kind="ollama", name="silent", base_url=silent_url),
        )
        gateway = gateway_on(
            gateways, llm_settings, source, cache_seconds=0.0, failure_seconds=60, list_timeout=0.3
        )
        started = time.monotonic()
        assert {m.name for m in await gateway.list_models()} >= {"scripted"}
        assert time.monotonic() - started < 2
        health = await gateway.connection_health()
        assert health["b"].status == "unreachable" and "0.3 s" in health["b"].detail
        assert health["a"].status == "ok" and health["a"].models == 3
        for _ in range(3):
            started = time.monotonic()
            assert {m.connection for m in await gateway.list_models()} == {"good"}
            assert time.monotonic() - started < 0.25  # the failure is remembered, not awaited


async def test_a_shared_name_is_qualified_and_picked_by_connection(
    gateways: list[ModelGateway], llm_settings: Settings, server: ScriptedModelServer
) -> None:
    async with ScriptedModelServer(["scripted"]) as other:
        source = Source(
            ConnectionSpec(id="1", kind="ollama", name="first", base_url=server.url),
            ConnectionSpec(id="2", kind="ollama", name="second", base_url=other.url),
        )
        gateway = gateway_on(gateways, llm_settings, source)
        ids = [(m.id, m.connection_id) for m in await gateway.list_models()]
        assert ("scripted@first", "1") in ids and ("scripted@second", "2") in ids
        assert ("plain", "1") in ids
        other.enqueue(text="second")
        assert [c.type for c in await collect(gateway.chat("scripted@second", user("hi")))] == [
            "text",
            "done",
        ]
        assert len(other.chat_requests) == 1 and not server.chat_requests
        server.enqueue(text="first")
        await collect(gateway.chat("scripted", user("hi")))
        assert len(server.chat_requests) == 1
        provider, name = await gateway.resolve("scripted@second")
        assert isinstance(provider, OllamaProvider) and provider.base_url == other.url
        assert name == "scripted"


async def test_a_model_name_with_an_at_sign_that_names_no_connection_is_a_name(
    gateways: list[ModelGateway], llm_settings: Settings, server: ScriptedModelServer
) -> None:
    server.set_models(["org@model"])
    source = Source(ConnectionSpec(id="1", kind="ollama", name="only", base_url=server.url))
    gateway = gateway_on(gateways, llm_settings, source)
    _, name = await gateway.resolve("org@model")
    assert name == "org@model"


async def test_changes_are_read_when_the_version_moves_and_clients_are_kept(
    gateways: list[ModelGateway], llm_settings: Settings, server: ScriptedModelServer
) -> None:
    source = Source(ConnectionSpec(id="1", kind="ollama", name="one", base_url=server.url))
    gateway = gateway_on(gateways, llm_settings, source, cache_seconds=3600)
    await gateway.list_models()
    await gateway.list_models()
    assert source.reads == 1
    (client,) = gateway.providers
    source.list.append(ConnectionSpec(id="2", kind="embedded", name="bundled"))
    source.change()
    await gateway.list_models()
    assert source.reads == 2
    assert gateway.providers[0] is client  # an unchanged server keeps its connections
    source.list[0] = ConnectionSpec(id="1", kind="ollama", name="one", base_url=server.url + "/")
    source.change()
    await gateway.list_models()
    assert gateway.providers[0] is not client


async def test_native_tools_off_sends_the_text_protocol_and_temperature_fills_in(
    gateways: list[ModelGateway], llm_settings: Settings, server: ScriptedModelServer
) -> None:
    source = Source(ConnectionSpec(id="1", kind="ollama", name="one", base_url=server.url))
    source.settings[("1", "scripted")] = ModelSettings(native_tools="off", temperature=0.3)
    gateway = gateway_on(gateways, llm_settings, source)
    server.enqueue(text='{"tool": "calculate", "params": {"expression": "1+1"}}')
    chunks = await collect(gateway.chat("scripted", user("1+1"), [CALCULATE]))
    assert chunks[0].type == "tool_call"
    sent = server.chat_requests[-1].body
    assert not sent.get("tools") and sent["options"] == {"temperature": 0.3}
    assert not gateway.uses_text_protocol("1", "scripted")  # a setting, not a remembered refusal
