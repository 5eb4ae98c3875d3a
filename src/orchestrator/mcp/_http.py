"""The streamable HTTP transport, through the SSRF guard.

The URL is vetted like `http_request`'s (HTTP_ALLOWLIST admits internal hosts, cloud
metadata never), resolved once, and the SDK's HTTP client connects only to the vetted
addresses (a pinned network backend for httpcore2, the SDK's HTTP stack). Redirects are
not followed; a response body over `MAX_MESSAGE_BYTES` (SSE events: each event) cuts
the connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import httpcore2
import httpx
import httpx2
from mcp.client.streamable_http import streamable_http_client

from orchestrator.core.config import Settings
from orchestrator.core.errors import BlockedAddress
from orchestrator.mcp._stdio import MAX_MESSAGE_BYTES, _too_big
from orchestrator.tools.netguard import SafeHttpClient


class _PinnedBackend(httpcore2.AsyncNetworkBackend):
    """Connects only to the vetted addresses of the vetted host."""

    def __init__(self, host: str, addresses: list[str]) -> None:
        self._host, self._addresses = host, addresses
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        if host.lower() != self._host:
            raise BlockedAddress(f"refusing to connect to {host}: it was not vetted")
        error: Exception | None = None
        for address in self._addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore2.ConnectError as exc:
                error = exc
        raise error or httpcore2.ConnectError(f"cannot connect to {host}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore2's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not reachable")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CappedStream(httpx2.AsyncByteStream):
    """A response body that stops at `limit` bytes (per SSE event for event streams)."""

    def __init__(
        self, inner: Any, limit: int, per_event: bool, on_failure: Callable[[str], None]
    ) -> None:
        self._inner, self._limit, self._per_event = inner, limit, per_event
        self._on_failure = on_failure

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._inner:
            if (
                self._per_event
                and (cut := max(chunk.rfind(b"\n\n"), chunk.rfind(b"\r\n\r\n"))) >= 0
            ):
                size = len(chunk) - cut
            else:
                size += len(chunk)
            if size > self._limit:
                message = _too_big(size)
                self._on_failure(message)
                raise httpx2.ReadError(message)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport on the pinned backend, with capped response bodies."""

    def __init__(self, host: str, addresses: list[str], on_failure: Callable[[str], None]) -> None:
        super().__init__(trust_env=False, retries=0)
        ssl_context = httpx2.create_ssl_context(trust_env=False)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context,
            network_backend=_PinnedBackend(host, addresses),
            max_connections=10,
            http1=True,
            http2=False,
            retries=0,
        )
        self._on_failure = on_failure

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await super().handle_async_request(request)
        per_event = response.headers.get("content-type", "").startswith("text/event-stream")
        response.stream = _CappedStream(
            response.stream, MAX_MESSAGE_BYTES, per_event, self._on_failure
        )
        return response


@asynccontextmanager
async def guarded_http(
    settings: Settings,
    url: str,
    headers: dict[str, str],
    *,
    request_seconds: float,
    on_failure: Callable[[str], None],
) -> AsyncIterator[tuple[Any, Any]]:
    """Vet the URL, then open the SDK's streamable HTTP transport over a pinned client."""
    target = await SafeHttpClient.from_settings(settings).vet(httpx.URL(url))
    transport = _GuardedTransport(target.host, target.addresses, on_failure)
    client = httpx2.AsyncClient(
        transport=transport,
        headers=headers,
        timeout=httpx2.Timeout(request_seconds, read=max(request_seconds, 300.0)),
        follow_redirects=False,
        trust_env=False,
    )
    async with (
        client,
        streamable_http_client(
            url, http_client=client, max_sse_event_size=MAX_MESSAGE_BYTES
        ) as streams,
    ):
        yield streams
