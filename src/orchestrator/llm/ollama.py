"""Ollama: streaming /api/chat with native tools and thinking (on aiohttp, without the
SDK's models: see `_ollama_wire`), and through its official client /api/tags + /api/show
for models and their capabilities, /api/embed."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import ssl
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, NoReturn

import certifi
import httpx
import pydantic

from orchestrator.core.errors import (
    LLMError,
    ModelNotFound,
    ProviderUnavailable,
    StreamInterrupted,
    ToolsNotSupported,
)
from orchestrator.core.lazy import lazy_module
from orchestrator.llm._ollama_wire import (
    MalformedReply,
    api_root,
    chat_body,
    message_of,
    tool_calls_of,
)
from orchestrator.llm.base import (
    Capability,
    ChatMessage,
    Done,
    GenerationOptions,
    ModelInfo,
    ProviderHealth,
    StreamChunk,
    TextDelta,
    ThinkingDelta,
    ToolCall,
    ToolCallChunk,
    ToolSpec,
)

if TYPE_CHECKING:
    import aiohttp
    import ollama
else:
    aiohttp = lazy_module("aiohttp")  # the chat stream's client: loaded with the first chat
    ollama = lazy_module("ollama")  # the SDK and its models: loaded with the first listing

log = logging.getLogger(__name__)

KEEP_ALIVE = httpx.Limits(max_connections=100, max_keepalive_connections=100)  # httpx keeps 20
KEEP_ALIVE_SECONDS = 5.0  # httpx's keep-alive expiry, for the chat stream's pool too
_KNOWN_CAPABILITIES: frozenset[str] = frozenset(
    {"completion", "tools", "thinking", "embedding", "vision"}
)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every client: building one per client costs 40-80 ms of CPU."""
    return ssl.create_default_context(cafile=certifi.where())


class OllamaProvider:
    """Models served by an Ollama server."""

    name = "ollama"

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        connect_timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        # Connections to the server are kept for every turn streaming at once: past httpx's
        # default of 20 kept, each further turn opened a TCP connection and closed it
        # after (50 chat turns at once; a local Ollama serves many streams).
        extra: dict[str, Any] = {"limits": KEEP_ALIVE}
        if transport:
            extra["transport"] = transport
        # An Ollama behind a proxy that wants a bearer token (Ollama itself wants none).
        self._api_key = api_key
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client_options = extra
        self._sdk_client: ollama.AsyncClient | None = None
        self._chat_url = f"{api_root(self.base_url)}/api/chat"
        self._chat_timeouts = (timeout, connect_timeout)
        # The chat stream's session, per event loop (an aiohttp session serves one loop).
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}
        self._proxy: tuple[Any, Any] = (None, None)  # (URL, auth) from HTTP(S)_PROXY
        self._transport = transport
        self._show_cache: dict[tuple[str, str], ollama.ShowResponse] = {}

    @property
    def _client(self) -> ollama.AsyncClient:
        """The SDK's client (models, embeddings), made (and the SDK imported) on first use."""
        if self._sdk_client is None:
            self._sdk_client = ollama.AsyncClient(
                host=self.base_url,
                timeout=self._timeout,
                verify=shared_ssl_context(),
                headers=self._headers,
                **self._client_options,
            )
        return self._sdk_client

    def _session(self) -> aiohttp.ClientSession:
        """The chat stream's client: aiohttp, whose C parser reads a streamed answer for a
        third of httpx's CPU (the event loop's largest share of a chat turn after SQL);
        with httpx's settings here (timeouts, 100 kept connections for 5 s, a proxy from
        the environment read once, not per request as aiohttp's `trust_env` does in a
        thread, the TLS context) and the SDK's (redirects followed, its
        OLLAMA_API_KEY fallback, a bare host read as host:11434)."""
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            api_key = self._api_key or os.environ.get("OLLAMA_API_KEY")
            headers = {"Accept": "application/json", "Content-Type": "application/json"}
            if api_key:
                headers["Authorization"] = f"Bearer {api_key}"
            timeout, connect_timeout = self._chat_timeouts
            connector = aiohttp.TCPConnector(
                limit=KEEP_ALIVE.max_connections or 0,
                keepalive_timeout=KEEP_ALIVE_SECONDS,
                ssl=shared_ssl_context(),
            )
            session = aiohttp.ClientSession(
                connector=connector,
                headers=headers,
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=timeout, sock_connect=connect_timeout, sock_read=timeout
                ),
            )
            self._sessions = {
                other: kept for other, kept in self._sessions.items() if not other.is_closed()
            }
            self._sessions[loop] = session
            self._proxy = _env_proxy(self._chat_url)
        return session

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if self._sdk_client is not None:
            await self._sdk_client.close()  # type: ignore[no-untyped-call]
        loop = asyncio.get_running_loop()
        session = self._sessions.pop(loop, None)
        if session is not None:
            await session.close()

    async def chat(
        self,
        model: str,
        messages: list[ChatMessage],
        tools: list[ToolSpec] | None = None,
        *,
        think: bool | None = None,
        json_schema: dict[str, Any] | None = None,
        options: GenerationOptions | None = None,
    ) -> AsyncIterator[StreamChunk]:
        """Stream one turn from /api/chat (Ollama cannot enforce `tool_choice`)."""
        body = chat_body(
            model, messages, tools, think=think, json_schema=json_schema, options=options
        )
        started = False
        try:
            async with aclosing(self._stream(body, turn=len(messages))) as chunks:
                async for chunk in chunks:
                    started = True
                    yield chunk
        except ollama.ResponseError as exc:
            if not started and think and "does not support thinking" in exc.error:
                log.info("model %s cannot think; asking again without thinking", model)
                async for chunk in self.chat(
                    model, messages, tools, json_schema=json_schema, options=options
                ):
                    yield chunk
                return
            self._raise(exc, model, started)
        except (
            aiohttp.ClientError,
            TimeoutError,
            ConnectionError,
            json.JSONDecodeError,
            pydantic.ValidationError,
            MalformedReply,
        ) as exc:
            self._raise(exc, model, started)

    async def _stream(self, body: dict[str, Any], turn: int) -> AsyncGenerator[StreamChunk, None]:
        # Encoded as httpx and the SDK sent it (compact, UTF-8, no NaN).
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        session = self._session()
        proxy, proxy_auth = self._proxy
        async with session.post(
            self._chat_url, data=data.encode(), proxy=proxy, proxy_auth=proxy_auth
        ) as response:
            if not 200 <= response.status < 300:
                text = (await response.read()).decode("utf-8", "replace")
                raise ollama.ResponseError(text, response.status)
            calls = 0
            done: Done | None = None
            async with aclosing(_lines(response)) as lines:
                async for line in lines:
                    part = json.loads(line)
                    if isinstance(part, dict) and (error := part.get("error")):
                        raise ollama.ResponseError(str(error))
                    message = message_of(part)
                    if thinking := message.get("thinking"):
                        yield ThinkingDelta(text=thinking)
                    if content := message.get("content"):
                        yield TextDelta(text=content)
                    for name, arguments in tool_calls_of(message):
                        # Ollama gives no ids; these stay the same when the same history
                        # is replayed.
                        call = ToolCall(id=f"call_{turn}_{calls}", name=name, arguments=arguments)
                        yield ToolCallChunk(call=call)
                        calls += 1
                    if part.get("done"):
                        done = Done(
                            finish_reason=part.get("done_reason"),
                            prompt_tokens=part.get("prompt_eval_count"),
                            completion_tokens=part.get("eval_count"),
                        )
                        break
                # Read the answer to its end (Ollama ends it after the last line): only a
                # response read whole gives its connection back to the pool, else each
                # turn opened a new one.
                async for _ in lines:
                    pass
        if done is None:
            raise StreamInterrupted(
                f"Ollama at {self.base_url} ended the stream before the answer was done"
            )
        yield done

    def _raise(self, exc: Exception, model: str, started: bool) -> NoReturn:
        """Map a client or transport error onto the LLMError tree."""
        where = f"Ollama at {self.base_url}"
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code in (401, 403):
                raise LLMError(
                    f"{where} refused the credentials ({exc.status_code}): check the API key",
                    reason="unauthorized",
                ) from exc
            if exc.status_code == 404 and not model:
                raise LLMError(
                    f"{where} has no Ollama API (404 on /api/tags): is the URL right?",
                    reason="not_api",
                ) from exc
            if exc.status_code == 404:
                raise ModelNotFound(
                    f"{where} has no model {model!r}: {exc.error}", model=model
                ) from exc
            if exc.status_code == 400 and "does not support tools" in exc.error:
                raise ToolsNotSupported(
                    f"model {model!r} does not support native tools", model=model
                ) from exc
            if started:
                raise StreamInterrupted(f"{where} stopped mid-answer: {exc.error}") from exc
            if exc.status_code == -1:  # an error line in a 200 stream, before any output
                raise LLMError(f"{where} failed: {exc.error}") from exc
            raise LLMError(f"{where} refused the request ({exc.status_code}): {exc.error}") from exc
        if _is_unreachable(exc):
            raise ProviderUnavailable(
                f"cannot reach Ollama at {self.base_url}: {exc}", reason="unreachable"
            ) from exc
        if isinstance(exc, httpx.TimeoutException | TimeoutError) and not started:
            raise ProviderUnavailable(
                f"{where} did not answer in time ({exc!r})", reason="unreachable"
            ) from exc
        malformed = json.JSONDecodeError | pydantic.ValidationError | MalformedReply
        if isinstance(exc, malformed) and not started:
            raise LLMError(
                f"{where} answered something that is not Ollama's API (an HTML page?): "
                "is the URL right?",
                reason="not_api",
            ) from exc
        raise StreamInterrupted(f"{where} broke off the answer: {exc!r}") from exc

    async def list_models(self) -> list[ModelInfo]:
        """Installed models (/api/tags) with their capabilities (/api/show, cached)."""
        try:
            tags = await self._client.list()
            entries = [m for m in tags.models if m.model]
            shows = await asyncio.gather(
                *(self._show(m.model or "", m.digest or "") for m in entries)
            )
        except (
            ollama.ResponseError,
            httpx.HTTPError,
            ConnectionError,
            json.JSONDecodeError,
            pydantic.ValidationError,
        ) as exc:
            self._raise(exc, "", started=False)
        return [_model_info(entry, show) for entry, show in zip(entries, shows, strict=True)]

    async def _show(self, model: str, digest: str) -> ollama.ShowResponse | None:
        key = (model, digest)
        if key not in self._show_cache:
            try:
                self._show_cache[key] = await self._client.show(model)
            except ollama.ResponseError as exc:  # removed between /api/tags and /api/show
                log.warning("Ollama could not describe model %s: %s", model, exc)
                return None
        return self._show_cache[key]

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        """One vector per text, from /api/embed."""
        try:
            reply = await self._client.embed(model=model, input=texts)
        except (ollama.ResponseError, httpx.HTTPError, ConnectionError) as exc:
            self._raise(exc, model, started=False)
        return [list(vector) for vector in reply.embeddings]

    async def health(self) -> ProviderHealth:
        """Ask /api/version."""
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url,
                timeout=5.0,
                transport=self._transport,
                verify=shared_ssl_context(),
                headers=self._headers,
            ) as client:
                reply = await client.get("/api/version")
                reply.raise_for_status()
                version = reply.json().get("version", "?")
        except (httpx.HTTPError, ValueError) as exc:
            return ProviderHealth(
                provider=self.name,
                ok=False,
                detail=f"cannot reach Ollama at {self.base_url}: {exc}",
            )
        return ProviderHealth(
            provider=self.name, ok=True, detail=f"Ollama {version} at {self.base_url}"
        )


def _env_proxy(url: str) -> tuple[Any, Any]:
    """The proxy HTTP_PROXY / HTTPS_PROXY name for `url` (NO_PROXY heeded), with its
    credentials: (None, None) for none."""
    from yarl import URL  # aiohttp's URLs (a dependency of aiohttp)

    try:
        return aiohttp.helpers.get_env_proxy_for_url(URL(url))
    except LookupError:
        return None, None


def _is_unreachable(exc: Exception) -> bool:
    """Whether `exc` says no connection could be made (not: it broke or timed out later)."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | ConnectionError):
        return True
    if "aiohttp" in sys.modules:  # loaded by the first chat: not loaded here to say no
        return isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
    return False


async def _lines(response: aiohttp.ClientResponse) -> AsyncGenerator[bytes, None]:
    """The NDJSON lines of a response, blank ones skipped (split here: aiohttp's own line
    reader refuses a line past 128 KiB, and a tool call's arguments can be longer)."""
    pending = b""
    async for data in response.content.iter_any():
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _model_info(entry: ollama.ListResponse.Model, show: ollama.ShowResponse | None) -> ModelInfo:
    capabilities: list[Capability] = []
    context_length: int | None = None
    if show is not None:
        capabilities = [c for c in show.capabilities or [] if c in _KNOWN_CAPABILITIES]  # type: ignore[misc]
        context_length = _context_length(show.modelinfo or {})
    return ModelInfo(
        name=entry.model or "",
        provider=OllamaProvider.name,
        capabilities=capabilities,
        context_length=context_length,
        size_bytes=int(entry.size) if entry.size is not None else None,
    )


def _context_length(model_info: Mapping[str, Any]) -> int | None:
    for key, value in model_info.items():
        if key.endswith(".context_length") and isinstance(value, int):
            return value
    return None
