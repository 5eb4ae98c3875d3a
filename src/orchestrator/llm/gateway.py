"""One door to every model: lists models across connections, resolves a model name to the
connection that serves it, and streams a turn with the same chunk types whether the model
calls tools natively or through the text protocol (which it switches to, and remembers,
when a model turns native tools down). On Ollama the text protocol is constrained to
valid JSON with `format` (a JSON schema of "a tool call or an answer").

Connections come from a `ConnectionSource` (the database, in the product; re-read when
it changes and at most every `cache_seconds`) or are fixed at construction (`providers`,
in tests and benchmarks). Each connection's model list is cached on its own: a listing
that failed is kept `failure_seconds` and then re-checked in the background, and a
listing never waits more than `list_timeout`, so a dead server never slows the list.
A model name two connections serve is picked on one of them as `NAME@CONNECTION`; the
bare name goes to the first connection (in their order) that serves it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from orchestrator.core.config import Settings
from orchestrator.core.errors import LLMError, ModelNotFound, ToolsNotSupported
from orchestrator.llm._constrained import tool_choice_schema
from orchestrator.llm.base import (
    Capability,
    ChatMessage,
    ChatProvider,
    GenerationOptions,
    ModelInfo,
    ProviderHealth,
    StreamChunk,
    TextDelta,
    ToolSpec,
)
from orchestrator.llm.connections._models import (
    ConnectionHealth,
    ConnectionKind,
    ConnectionSpec,
    HealthStatus,
    ModelSettings,
)
from orchestrator.llm.embedded import EmbeddedProvider
from orchestrator.llm.ollama import OllamaProvider
from orchestrator.llm.text_protocol import (
    TextProtocolParser,
    json_tool_call,
    render_json_tool_section,
    to_text_messages,
)

log = logging.getLogger(__name__)

_NO_SETTINGS = ModelSettings()
EvalScores = Callable[[], Awaitable[Mapping[str, float]]]


class ConnectionSource(Protocol):
    """Where the gateway reads its connections (`ConnectionStore` in the product)."""

    version: int  # rises when this process changes a connection

    async def specs(self) -> tuple[list[ConnectionSpec], dict[tuple[str, str], ModelSettings]]:
        """Every connection in answering order, and each (connection id, model)'s settings."""
        ...


def default_providers(settings: Settings) -> list[ChatProvider]:
    """Ollama, an OpenAI-compatible server when configured, and the embedded model."""
    providers: list[ChatProvider] = [OllamaProvider(settings.ollama_url)]
    if settings.openai_base_url:
        # Imported here: the openai package is slow to import and most set-ups lack one.
        from orchestrator.llm.openai_compat import OpenAICompatProvider

        providers.append(OpenAICompatProvider(settings.openai_base_url, settings.openai_api_key))
    providers.append(EmbeddedProvider())
    return providers


@dataclass
class Endpoint:
    """A connection as the gateway holds it: its definition, client and models' settings."""

    spec: ConnectionSpec
    provider: ChatProvider | None  # None while disabled
    settings: dict[str, ModelSettings] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class _Listing:
    at: float
    models: list[ModelInfo]
    status: HealthStatus = "ok"
    error: str = ""
    checked_at: float = field(default_factory=time.time)


class ModelGateway:
    """Every connection behind one interface; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        providers: Sequence[ChatProvider] | None = None,
        *,
        connections: ConnectionSource | None = None,
        cache_seconds: float = 5.0,
        failure_seconds: float | None = None,
        list_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        constrain_text_protocol: bool = True,
    ) -> None:
        self.settings = settings
        self._source = connections
        self._cache_seconds = cache_seconds
        self._failure_seconds = 6 * cache_seconds if failure_seconds is None else failure_seconds
        self._list_timeout = list_timeout
        self._constrain = constrain_text_protocol
        self._clock = clock
        self._endpoints_all: list[Endpoint] = []
        self._loaded: tuple[int, float] | None = None  # (source version, when)
        self._load_lock = asyncio.Lock()
        self._listings: dict[str, _Listing] = {}
        # `_locate`'s answers, and the (connection, listing) pairs they were found in.
        self._located: dict[str, tuple[Endpoint, ModelInfo]] = {}
        self._located_in: list[tuple[Endpoint, _Listing | None]] = []
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._retired: list[ChatProvider] = []
        self._embedded: EmbeddedProvider | None = None
        self._text_protocol: set[tuple[str, str]] = (
            set()
        )  # (connection, model) without native tools
        # Filled by the evaluation suite's owner: model id or name -> latest task success.
        self.eval_scores: EvalScores | None = None
        if connections is None:
            self._endpoints_all = _static_endpoints(
                list(providers) if providers is not None else default_providers(settings)
            )

    @property
    def providers(self) -> list[ChatProvider]:
        """The clients of the enabled connections (as last loaded)."""
        return [e.provider for e in self._endpoints_all if e.provider is not None]

    async def aclose(self) -> None:
        """Close every client that holds connections or threads."""
        for task in list(self._inflight.values()):
            task.cancel()
        closed: set[int] = set()
        for provider in [*self.providers, *self._retired, self._embedded]:
            if provider is None or id(provider) in closed:
                continue
            closed.add(id(provider))
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()

    # -- connections ---------------------------------------------------------------------

    async def endpoints(self) -> list[Endpoint]:
        """Every connection, enabled or not, in answering order (re-read when changed)."""
        source = self._source
        if source is None:
            return list(self._endpoints_all)
        if self._current(source):
            return list(self._endpoints_all)
        async with self._load_lock:
            if not self._current(source):
                version = source.version
                specs, settings = await source.specs()
                self._apply(specs, settings)
                self._loaded = (version, self._clock())
        return list(self._endpoints_all)

    def _current(self, source: ConnectionSource) -> bool:
        if self._loaded is None:
            return False
        version, at = self._loaded
        return version == source.version and self._clock() - at < self._cache_seconds

    def _apply(
        self, specs: list[ConnectionSpec], settings: dict[tuple[str, str], ModelSettings]
    ) -> None:
        """Rebuild the endpoints, keeping the clients of connections whose server is unchanged."""
        old = {e.id: e for e in self._endpoints_all}
        endpoints: list[Endpoint] = []
        for spec in specs:
            previous = old.pop(spec.id, None)
            provider: ChatProvider | None = None
            if spec.enabled:
                if (
                    previous is not None
                    and previous.provider is not None
                    and _same_server(previous.spec, spec)
                ):
                    provider = previous.provider
                else:
                    provider = self._build(spec)
            if previous is not None and previous.provider is not provider:
                self._forget(previous)
            mine = {model: s for (cid, model), s in settings.items() if cid == spec.id}
            endpoints.append(Endpoint(spec, provider, mine))
        for gone in old.values():
            self._forget(gone)
        self._endpoints_all = endpoints

    def _forget(self, endpoint: Endpoint) -> None:
        """Drop a connection's listing; its client closes with the gateway (a stream may
        still be reading from it)."""
        self._listings.pop(endpoint.id, None)
        if endpoint.provider is not None and endpoint.provider is not self._embedded:
            self._retired.append(endpoint.provider)

    def _build(self, spec: ConnectionSpec) -> ChatProvider:
        if spec.kind == "ollama":
            return OllamaProvider(spec.base_url, api_key=spec.api_key)
        if spec.kind == "openai":
            from orchestrator.llm.openai_compat import OpenAICompatProvider

            return OpenAICompatProvider(spec.base_url, spec.api_key)
        if self._embedded is None:  # one in-process model, however many times it is listed
            self._embedded = EmbeddedProvider()
        return self._embedded

    # -- models --------------------------------------------------------------------------

    async def list_models(self, *, refresh: bool = False) -> list[ModelInfo]:
        """Models of every enabled connection that answers (one that fails adds none),
        each with its evaluation score."""
        models = await self._available(refresh=refresh)
        scores = await self._scores()
        for info in models:
            info.eval_score = scores.get(info.id, scores.get(info.name))
        return models

    async def _available(self, *, refresh: bool = False) -> list[ModelInfo]:
        """The models as listed (cached), with their ids; no scores: a model call resolves
        its name here without a query."""
        return _decorated(await self._listed(refresh=refresh))

    async def _listed(self, *, refresh: bool = False) -> list[tuple[Endpoint, _Listing | None]]:
        """Each connection with a client and its listing, refreshed where it is stale."""
        endpoints = [e for e in await self.endpoints() if e.provider is not None]
        now = self._clock()
        waits: list[Awaitable[None]] = []
        for endpoint in endpoints:
            listing = self._listings.get(endpoint.id)
            if refresh or listing is None:
                waits.append(self._refresh(endpoint))
            elif listing.status == "ok":
                if now - listing.at >= self._cache_seconds:
                    waits.append(self._refresh(endpoint))
            elif now - listing.at >= self._failure_seconds:
                if self._failure_seconds > 0:  # re-check in the background: never wait on it
                    self._refresh_soon(endpoint)
                else:
                    waits.append(self._refresh(endpoint))
        if waits:
            await asyncio.gather(*waits)
        return [(endpoint, self._listings.get(endpoint.id)) for endpoint in endpoints]

    async def _scores(self) -> Mapping[str, float]:
        """The evaluation scores (one small query: a score shows as soon as it is stored)."""
        if self.eval_scores is None:
            return {}
        try:
            return await self.eval_scores()
        except Exception:
            log.exception("evaluation scores are unavailable")
            return {}

    async def _refresh(self, endpoint: Endpoint) -> None:
        """List one connection's models now (joining a listing already under way)."""
        task = self._inflight.get(endpoint.id)
        if task is None or task.done():
            task = asyncio.ensure_future(self._list_one(endpoint))
            self._inflight[endpoint.id] = task
            task.add_done_callback(lambda _: self._inflight.pop(endpoint.id, None))
        await asyncio.shield(task)

    def _refresh_soon(self, endpoint: Endpoint) -> None:
        if endpoint.id not in self._inflight:
            task = asyncio.ensure_future(self._list_one(endpoint))
            self._inflight[endpoint.id] = task
            task.add_done_callback(lambda _: self._inflight.pop(endpoint.id, None))

    async def _list_one(self, endpoint: Endpoint) -> None:
        provider = endpoint.provider
        if provider is None:
            return
        try:
            models = await asyncio.wait_for(provider.list_models(), self._list_timeout)
            listing = _Listing(self._clock(), models)
        except LLMError as exc:
            log.warning("no models from %s: %s", endpoint.name, exc.message)
            reason = exc.fields.get("reason")
            status = cast(HealthStatus, reason) if isinstance(reason, str) else "error"
            listing = _Listing(self._clock(), [], status, exc.message)
        except TimeoutError:
            message = f"{endpoint.name} did not list its models within {self._list_timeout:g} s"
            log.warning(message)
            listing = _Listing(self._clock(), [], "unreachable", message)
        if any(e.id == endpoint.id and e.provider is provider for e in self._endpoints_all):
            self._listings[endpoint.id] = listing

    async def check(self, connection_id: str) -> ConnectionHealth:
        """List one connection's models now and say how it went."""
        for endpoint in await self.endpoints():
            if endpoint.id == connection_id and endpoint.provider is not None:
                await self._refresh(endpoint)
        return (await self.connection_health()).get(
            connection_id, ConnectionHealth(status="unknown")
        )

    def forget_models(self, connection_id: str) -> None:
        """Drop a connection's cached model list (after a pull added one)."""
        self._listings.pop(connection_id, None)

    async def connection_health(self) -> dict[str, ConnectionHealth]:
        """Each connection's health, from its last listing (disabled ones say so)."""
        from datetime import UTC, datetime

        health: dict[str, ConnectionHealth] = {}
        for endpoint in await self.endpoints():
            if endpoint.provider is None:
                health[endpoint.id] = ConnectionHealth(status="disabled", detail="disabled")
                continue
            listing = self._listings.get(endpoint.id)
            if listing is None:
                health[endpoint.id] = ConnectionHealth(status="unknown", detail="not checked yet")
                continue
            health[endpoint.id] = ConnectionHealth(
                status=listing.status,
                detail=listing.error
                or f"{len(listing.models)} model{'s' if len(listing.models) != 1 else ''}",
                checked_at=datetime.fromtimestamp(listing.checked_at, UTC),
                models=len(listing.models) if listing.status == "ok" else None,
            )
        return health

    async def resolve(self, model: str | None) -> tuple[ChatProvider, str]:
        """The client and model name for `model` (None: the default)."""
        endpoint, info = await self._locate(model)
        assert endpoint.provider is not None
        return endpoint.provider, info.name

    async def _locate(self, model: str | None) -> tuple[Endpoint, ModelInfo]:
        """Where `model` (None: the default) is served. Remembered while the connections
        and their listings stay the same objects: a turn's calls (and its meter, which
        names the default) locate the model once, not copying every listed model each time."""
        listed = await self._listed()
        if len(listed) != len(self._located_in) or any(
            a is not b
            for pair, old in zip(listed, self._located_in, strict=True)
            for a, b in zip(pair, old, strict=True)
        ):
            self._located.clear()
            self._located_in = listed
        found = self._located.get(model or "")
        if found is None:
            found = self._located[model or ""] = self._locate_in(_decorated(listed), model)
        return found

    def _locate_in(self, models: list[ModelInfo], model: str | None) -> tuple[Endpoint, ModelInfo]:
        if model:
            found = self._find_named(models, model)
            if found is None:
                raise ModelNotFound(self._not_found_message(model, models), model=model)
            return self._endpoint(found), found
        if self.settings.default_model:
            found = self._find_named(models, self.settings.default_model)
            if found is not None:
                return self._endpoint(found), found
            log.warning(
                "DEFAULT_MODEL %r is not available; choosing another", self.settings.default_model
            )
        choice = _default_choice(models)
        if choice is None:
            raise ModelNotFound(self._not_found_message(None, models))
        return self._endpoint(choice), choice

    def _find_named(self, models: list[ModelInfo], wanted: str) -> ModelInfo | None:
        """`NAME@CONNECTION` on that connection; else the first connection serving NAME."""
        name, _, connection = wanted.rpartition("@")
        if name and any(e.name == connection for e in self._endpoints_all):
            return _find(models, name, connection)
        return _find(models, wanted)

    def _endpoint(self, info: ModelInfo) -> Endpoint:
        return next(e for e in self._endpoints_all if e.id == info.connection_id)

    def _not_found_message(self, model: str | None, models: list[ModelInfo]) -> str:
        wanted = f"model {model!r} is not available" if model else "no model is available"
        names = ", ".join(m.id for m in models) or "none"
        problems = "".join(
            f"; {e.name}: {self._listings[e.id].error}"
            for e in self._endpoints_all
            if e.id in self._listings and self._listings[e.id].error
        )
        return f"{wanted} (available: {names}){problems}"

    # -- turns ---------------------------------------------------------------------------

    async def chat(
        self,
        model: str | None,
        messages: list[ChatMessage],
        tools: list[ToolSpec] | None = None,
        *,
        think: bool | None = None,
        json_schema: dict[str, Any] | None = None,
        options: GenerationOptions | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Stream one turn of `model` (None: the default) with native or text-protocol tools."""
        endpoint, info = await self._locate(model)
        provider, name = endpoint.provider, info.name
        assert provider is not None
        key = (endpoint.id, name)
        chosen = endpoint.settings.get(name, _NO_SETTINGS)
        options = _with_settings(options, chosen)
        if any(m.images for m in messages) and not _sees_images(info, chosen):
            messages = [_without_images(m) for m in messages]
        text_protocol = key in self._text_protocol or (bool(tools) and chosen.native_tools == "off")
        if (
            tools
            and not text_protocol
            and chosen.native_tools == "auto"
            and bool(info.capabilities)
            and "tools" not in info.capabilities
        ):
            self._text_protocol.add(key)
            text_protocol = True
        if not text_protocol:
            started = False
            try:
                stream = provider.chat(
                    name, messages, tools, think=think, json_schema=json_schema, options=options
                )
                async with aclosing(stream) as chunks:  # type: ignore[type-var]
                    async for chunk in chunks:
                        started = True
                        yield chunk
                return
            except ToolsNotSupported:
                if started or not tools:
                    raise
                log.info("%s/%s has no native tools; using the text protocol from now on", *key)
                self._text_protocol.add(key)
        schema = None if tools else json_schema
        async for chunk in self._chat_text(provider, name, messages, tools, think, schema, options):
            yield chunk

    async def _chat_text(
        self,
        provider: ChatProvider,
        name: str,
        messages: list[ChatMessage],
        tools: list[ToolSpec] | None,
        think: bool | None,
        json_schema: dict[str, Any] | None,
        options: GenerationOptions | None,
    ) -> AsyncIterator[StreamChunk]:
        """The text protocol: tools described in the system prompt, calls parsed from text."""
        parser = TextProtocolParser(id_prefix=f"call_{len(messages)}")
        if tools and self._constrain and provider.name == OllamaProvider.name:
            required = options is not None and options.tool_choice == "required"
            json_schema = tool_choice_schema(tools, allow_answer=not required, bounded=False)
            text_messages = to_text_messages(
                messages,
                tools,
                render_call=json_tool_call,
                tool_section=render_json_tool_section(tools),
            )
        else:
            text_messages = to_text_messages(messages, tools)
        stream = provider.chat(
            name, text_messages, None, think=think, json_schema=json_schema, options=options
        )
        async with aclosing(stream) as chunks:  # type: ignore[type-var]
            async for chunk in chunks:
                if isinstance(chunk, TextDelta):
                    for parsed in parser.feed(chunk.text):
                        yield parsed
                    continue
                if chunk.type == "done":
                    for parsed in parser.finish():
                        yield parsed
                yield chunk

    async def health(self) -> list[ProviderHealth]:
        """Each enabled connection's health, asked of its server now."""
        endpoints = [e for e in await self.endpoints() if e.provider is not None]
        results = await asyncio.gather(*(e.provider.health() for e in endpoints))  # type: ignore[union-attr]
        return [
            result.model_copy(update={"provider": endpoint.name})
            for endpoint, result in zip(endpoints, results, strict=True)
        ]

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """Vectors from the connection that lists `model`."""
        provider, name = await self.resolve(model)
        return await provider.embed(name, texts)

    def uses_text_protocol(self, connection: str, model: str) -> bool:
        """Whether turns of this model on this connection (its id) go through the text protocol."""
        return (connection, model) in self._text_protocol


def _static_endpoints(providers: list[ChatProvider]) -> list[Endpoint]:
    """Fixed providers as connections named (and identified) after their kind."""
    endpoints: list[Endpoint] = []
    taken: Counter[str] = Counter()
    for provider in providers:
        taken[provider.name] += 1
        ident = (
            provider.name
            if taken[provider.name] == 1
            else f"{provider.name}-{taken[provider.name]}"
        )
        kind = cast(ConnectionKind, provider.name)
        endpoints.append(Endpoint(ConnectionSpec(id=ident, kind=kind, name=ident), provider))
    return endpoints


def _same_server(old: ConnectionSpec, new: ConnectionSpec) -> bool:
    return (old.kind, old.base_url, old.api_key) == (new.kind, new.base_url, new.api_key)


def _decorated(listed: list[tuple[Endpoint, _Listing | None]]) -> list[ModelInfo]:
    """Every listed model, decorated, with its id (its name, or NAME@CONNECTION where two
    connections serve it)."""
    models = [
        _decorate(info, endpoint)
        for endpoint, listing in listed
        for info in (listing.models if listing is not None else [])
    ]
    counts = Counter(info.name for info in models)
    for info in models:
        info.id = info.name if counts[info.name] == 1 else f"{info.name}@{info.connection}"
    return models


def _decorate(info: ModelInfo, endpoint: Endpoint) -> ModelInfo:
    """The model as listed, with its connection and the admin's overrides."""
    chosen = endpoint.settings.get(info.name, _NO_SETTINGS)
    capabilities: list[Capability] = list(info.capabilities)
    overrides: tuple[tuple[Capability, bool | None], ...] = (
        ("tools", {"on": True, "off": False}.get(chosen.native_tools)),
        ("vision", chosen.vision),
    )
    for capability, wanted in overrides:
        if wanted is True and capability not in capabilities:
            capabilities.append(capability)
        elif wanted is False and capability in capabilities:
            capabilities.remove(capability)
    return info.model_copy(
        update={
            "capabilities": capabilities,
            "context_length": chosen.context_length or info.context_length,
            "connection_id": endpoint.id,
            "connection": endpoint.name,
        }
    )


def _with_settings(
    options: GenerationOptions | None, chosen: ModelSettings
) -> GenerationOptions | None:
    """The call's options with the model's settings filled in where the call left them."""
    if chosen.temperature is None and chosen.context_length is None:
        return options
    options = options or GenerationOptions()
    update: dict[str, Any] = {}
    if options.temperature is None and chosen.temperature is not None:
        update["temperature"] = chosen.temperature
    if options.context_length is None and chosen.context_length is not None:
        update["context_length"] = chosen.context_length
    return options.model_copy(update=update)


def _sees_images(info: ModelInfo, chosen: ModelSettings) -> bool:
    """The admin's `vision` setting; else Ollama's capabilities; an OpenAI-compatible
    server does not say, so its models are sent the images."""
    if chosen.vision is not None:
        return chosen.vision
    return not info.capabilities or "vision" in info.capabilities


def _without_images(message: ChatMessage) -> ChatMessage:
    """The message with a note in place of its images, for a model without vision."""
    if not message.images:
        return message
    names = ", ".join(image.path for image in message.images)
    note = (
        f"\n\n[The attached image(s) {names} cannot be shown to you: this model has no "
        "vision. Say so if the user asks about what they show.]"
    )
    return message.model_copy(update={"images": [], "content": message.content + note})


def _find(models: list[ModelInfo], name: str, connection: str | None = None) -> ModelInfo | None:
    """Exact name first, then Ollama's implicit ":latest" tag."""
    candidates = [m for m in models if connection is None or m.connection == connection]
    for wanted in (name, name if ":" in name else f"{name}:latest"):
        for info in candidates:
            if info.name == wanted:
                return info
    return None


def _default_choice(models: list[ModelInfo]) -> ModelInfo | None:
    """Ollama with tools, any Ollama chat model, an OpenAI-compatible one, the embedded one."""
    ollama = [m for m in models if m.provider == OllamaProvider.name]
    for group in (
        [m for m in ollama if "tools" in m.capabilities and "completion" in m.capabilities],
        [m for m in ollama if "embedding" not in m.capabilities or "completion" in m.capabilities],
        [m for m in models if m.provider == "openai"],
        [m for m in models if m.provider == EmbeddedProvider.name],
    ):
        if group:
            return group[0]
    return None
