"""One door to every model: lists models across providers, resolves a model name to its
provider, and streams a turn with the same chunk types whether the model calls tools
natively or through the text protocol (which it switches to, and remembers, when a
model turns native tools down). On Ollama the text protocol is constrained to valid
JSON with `format` (a JSON schema of "a tool call or an answer")."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from typing import Any

from orchestrator.core.config import Settings
from orchestrator.core.errors import LLMError, ModelNotFound, ToolsNotSupported
from orchestrator.llm._constrained import tool_choice_schema
from orchestrator.llm.base import (
    ChatMessage,
    ChatProvider,
    GenerationOptions,
    ModelInfo,
    ProviderHealth,
    StreamChunk,
    TextDelta,
    ToolSpec,
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


def default_providers(settings: Settings) -> list[ChatProvider]:
    """Ollama, an OpenAI-compatible server when configured, and the embedded model."""
    providers: list[ChatProvider] = [OllamaProvider(settings.ollama_url)]
    if settings.openai_base_url:
        # Imported here: the openai package is slow to import and most set-ups lack one.
        from orchestrator.llm.openai_compat import OpenAICompatProvider

        providers.append(OpenAICompatProvider(settings.openai_base_url, settings.openai_api_key))
    providers.append(EmbeddedProvider())
    return providers


class ModelGateway:
    """Every provider behind one interface; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        providers: Sequence[ChatProvider] | None = None,
        *,
        cache_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        constrain_text_protocol: bool = True,
    ) -> None:
        self.settings = settings
        self.providers: list[ChatProvider] = (
            list(providers) if providers is not None else default_providers(settings)
        )
        self._cache_seconds = cache_seconds
        self._constrain = constrain_text_protocol
        self._clock = clock
        self._cached: tuple[float, list[ModelInfo]] | None = None
        self._errors: dict[str, str] = {}  # provider -> why its models are missing
        self._text_protocol: set[tuple[str, str]] = set()  # (provider, model) without native tools

    async def aclose(self) -> None:
        """Close every provider that holds connections or threads."""
        for provider in self.providers:
            close = getattr(provider, "aclose", None)
            if close is not None:
                await close()

    async def list_models(self, *, refresh: bool = False) -> list[ModelInfo]:
        """Models of every provider that answers (a provider that fails just adds none)."""
        now = self._clock()
        if not refresh and self._cached is not None and now - self._cached[0] < self._cache_seconds:
            return list(self._cached[1])
        results = await asyncio.gather(
            *(p.list_models() for p in self.providers), return_exceptions=True
        )
        models: list[ModelInfo] = []
        self._errors = {}
        for provider, result in zip(self.providers, results, strict=True):
            if isinstance(result, LLMError):
                log.warning("no models from %s: %s", provider.name, result.message)
                self._errors[provider.name] = result.message
            elif isinstance(result, BaseException):
                raise result  # a programming error, not an unreachable server
            else:
                models.extend(result)
        self._cached = (now, models)
        return list(models)

    async def resolve(self, model: str | None) -> tuple[ChatProvider, str]:
        """The provider and model name for `model`, or for the default when None."""
        models = await self.list_models()
        if model:
            found = _find(models, model)
            if found is None:
                raise ModelNotFound(self._not_found_message(model, models), model=model)
            return self._provider(found.provider), found.name
        if self.settings.default_model:
            found = _find(models, self.settings.default_model)
            if found is not None:
                return self._provider(found.provider), found.name
            log.warning(
                "DEFAULT_MODEL %r is not available; choosing another", self.settings.default_model
            )
        choice = _default_choice(models)
        if choice is None:
            raise ModelNotFound(self._not_found_message(None, models))
        return self._provider(choice.provider), choice.name

    def _provider(self, name: str) -> ChatProvider:
        return next(p for p in self.providers if p.name == name)

    def _not_found_message(self, model: str | None, models: list[ModelInfo]) -> str:
        wanted = f"model {model!r} is not available" if model else "no model is available"
        names = ", ".join(m.name for m in models) or "none"
        problems = "".join(f"; {name}: {error}" for name, error in self._errors.items())
        return f"{wanted} (available: {names}){problems}"

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
        provider, name = await self.resolve(model)
        key = (provider.name, name)
        if any(m.images for m in messages) and not await self._sees_images(provider, name):
            messages = [_without_images(m) for m in messages]
        if tools and key not in self._text_protocol and await self._lacks_tools(provider, name):
            self._text_protocol.add(key)
        if key not in self._text_protocol:
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

    async def _sees_images(self, provider: ChatProvider, name: str) -> bool:
        """Ollama says whether a model has vision (/api/show capabilities); an
        OpenAI-compatible server does not say, so its models are sent the images."""
        info = _find(await self.list_models(), name, provider.name)
        if info is None or not info.capabilities:
            return True
        return "vision" in info.capabilities

    async def _lacks_tools(self, provider: ChatProvider, name: str) -> bool:
        """True when the provider lists capabilities for the model and "tools" is not one."""
        info = _find(await self.list_models(), name, provider.name)
        return info is not None and bool(info.capabilities) and "tools" not in info.capabilities

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
        """Each provider's health."""
        return list(await asyncio.gather(*(p.health() for p in self.providers)))

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """Vectors from the provider that lists `model`."""
        provider, name = await self.resolve(model)
        return await provider.embed(name, texts)

    def uses_text_protocol(self, provider: str, model: str) -> bool:
        """Whether turns of this model go through the text protocol."""
        return (provider, model) in self._text_protocol


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


def _find(models: list[ModelInfo], name: str, provider: str | None = None) -> ModelInfo | None:
    """Exact name first, then Ollama's implicit ":latest" tag."""
    candidates = [m for m in models if provider is None or m.provider == provider]
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
