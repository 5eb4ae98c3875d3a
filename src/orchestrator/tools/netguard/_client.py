"""The HTTP client tools use: every hop vetted, addresses pinned, sizes and time capped."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
from pydantic import BaseModel, Field

from orchestrator.core.config import Settings
from orchestrator.core.errors import BlockedAddress, ToolArgumentError, ToolError
from orchestrator.tools.netguard._pinning import PinnedBackend, PinnedTransport
from orchestrator.tools.netguard._policy import (
    AddressPolicy,
    Resolver,
    check_host_name,
    literal_address,
    system_resolver,
)

MAX_BODY_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
TOTAL_TIMEOUT = 30.0
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_REDIRECTS = {301, 302, 303, 307, 308}
_SHOWN_HEADERS = (
    "content-type",
    "content-length",
    "content-encoding",
    "content-disposition",
    "location",
    "date",
    "last-modified",
    "etag",
    "cache-control",
    "retry-after",
    "server",
    "www-authenticate",
)
# Headers the client manages; a model must not smuggle its own.
_FORBIDDEN_HEADERS = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
    "accept-encoding",
}
_CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")


class HttpResponse(BaseModel):
    """What the model sees of a response."""

    status: int
    reason: str
    url: str
    headers: dict[str, str]
    body: str
    truncated: bool = False
    redirects: list[str] = []
    elapsed_ms: int
    # The body's bytes as received (decompressed, capped), for tools that parse it
    # themselves (web_read's PDFs); never shown to the model as such.
    raw: bytes = Field(b"", exclude=True, repr=False)


@dataclass(frozen=True)
class _Target:
    """One vetted hop: the host and the addresses it may connect to."""

    host: str
    addresses: list[str]


class SafeHttpClient:
    """An HTTP client for tools: SSRF checks on every hop, pinned addresses, capped sizes."""

    def __init__(
        self,
        *,
        policy: AddressPolicy | None = None,
        resolver: Resolver = system_resolver,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_redirects: int = MAX_REDIRECTS,
        total_timeout: float = TOTAL_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy or AddressPolicy()
        self.resolver = resolver
        self.max_body_bytes = max_body_bytes
        self.max_redirects = max_redirects
        self.total_timeout = total_timeout
        self._ssl_context = ssl_context

    @classmethod
    def from_settings(cls, settings: Settings) -> SafeHttpClient:
        """A client honouring HTTP_ALLOWLIST."""
        return cls(policy=AddressPolicy(settings.http_allowlist))

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
    ) -> HttpResponse:
        """Send the request, following up to `max_redirects` redirects, each one vetted."""
        method = method.upper()
        if method not in METHODS:
            raise ToolArgumentError(f"method must be one of {', '.join(METHODS)}")
        clean = _clean_headers(headers or {})
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.total_timeout):
                return await self._follow(method, httpx.URL(url), clean, body, started)
        except TimeoutError:
            raise ToolError(f"the request took longer than {self.total_timeout:g} s") from None
        except httpx.InvalidURL as exc:
            raise ToolArgumentError(f"invalid URL: {exc}") from None
        except httpx.HTTPError as exc:
            raise ToolError(f"the request failed: {exc.__class__.__name__}: {exc}") from None

    async def _follow(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        body: str | None,
        started: float,
    ) -> HttpResponse:
        redirects: list[str] = []
        while True:
            target = await self.vet(url)
            response, text, truncated, raw = await self._send(target, method, url, headers, body)
            location = response.headers.get("location")
            if response.status_code not in _REDIRECTS or not location:
                rendered = _render(response, url, text, truncated, redirects, started)
                rendered.raw = raw
                return rendered
            if len(redirects) >= self.max_redirects:
                raise ToolError(f"stopped after {self.max_redirects} redirects (at {url})")
            next_url = url.join(location)
            redirects.append(str(next_url))
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method, body = ("HEAD" if method == "HEAD" else "GET"), None
            if _origin(next_url) != _origin(url):  # never hand credentials to another site
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
            url = next_url

    async def vet(self, url: httpx.URL) -> _Target:
        """Check a URL and resolve its host; BlockedAddress / ToolArgumentError if refused."""
        if url.scheme not in ("http", "https"):
            raise ToolArgumentError(f"only http and https URLs are allowed, not {url.scheme!r}")
        if url.userinfo:
            raise BlockedAddress("URLs with a user name or password ('user@host') are refused")
        host = url.raw_host.decode("ascii").lower()
        port = url.port or (443 if url.scheme == "https" else 80)
        if not 0 < port < 65536:
            raise ToolArgumentError(f"invalid port {port}")
        literal = literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            check_host_name(host)
            addresses = await self.resolver(host, port)
            if not addresses:
                raise ToolError(f"{host} has no address")
        for address in addresses:  # every one: a name may mix public and internal ones
            self.policy.check_address(host, address, port)
        return _Target(host=host, addresses=[str(a) for a in addresses])

    async def _send(
        self,
        target: _Target,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        body: str | None,
    ) -> tuple[httpx.Response, str, bool, bytes]:
        backend = PinnedBackend(target.host, target.addresses)
        transport = PinnedTransport(backend, self._ssl())
        timeout = httpx.Timeout(10.0, connect=5.0)
        async with (
            httpx.AsyncClient(transport=transport, trust_env=False, timeout=timeout) as client,
            client.stream(
                method,
                url,
                headers={"Accept-Encoding": "gzip, deflate", **headers},
                content=body.encode("utf-8") if body is not None else None,
            ) as response,
        ):
            text, truncated, raw = await _read_capped(response, self.max_body_bytes)
        return response, text, truncated, raw

    def _ssl(self) -> ssl.SSLContext:
        return self._ssl_context or _default_ssl_context()


@cache
def _default_ssl_context() -> ssl.SSLContext:
    """Loading the CA bundle costs milliseconds; do it once per process."""
    return httpx.create_ssl_context()


def _clean_headers(headers: Mapping[str, str]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for name, value in headers.items():
        if not _HEADER_NAME.match(name):
            raise ToolArgumentError(f"invalid header name {name!r}")
        if name.lower() in _FORBIDDEN_HEADERS or name.lower().startswith("proxy-"):
            raise ToolArgumentError(f"the {name} header is set by the client, not by tools")
        if any(ch in value for ch in "\r\n\x00"):
            raise ToolArgumentError(f"the {name} header contains a line break")
        clean[name] = value
    return clean


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


async def _read_capped(response: httpx.Response, limit: int) -> tuple[str, bool, bytes]:
    """The body as text, at most `limit` bytes after decompression (no zip bombs)."""
    decoder = _BoundedDecoder(response.headers.get("content-encoding", ""))
    chunks: list[bytes] = []
    size, truncated = 0, False
    async for raw in response.aiter_raw():
        data = decoder.decode(raw, limit - size)
        chunks.append(data)
        size += len(data)
        if size >= limit or decoder.overflow:
            truncated = True
            break
    body = b"".join(chunks)[:limit]
    if decoder.unsupported:
        return f"[body not shown: unsupported content-encoding {decoder.encoding!r}]", False, b""
    content_type = response.headers.get("content-type", "")
    if b"\x00" in body[:4096] and not content_type.startswith("text/"):
        return f"[binary body of type {content_type or 'unknown'}, not shown]", truncated, body
    return body.decode(response.charset_encoding or "utf-8", errors="replace"), truncated, body


class _BoundedDecoder:
    """gzip/deflate decoding that never inflates more than it is asked for."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding.strip().lower()
        self.overflow = False
        self.unsupported = False
        self._zlib: Any = None
        if self.encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "deflate":
            self._zlib = zlib.decompressobj()
        elif self.encoding not in ("", "identity"):
            self.unsupported = True

    def decode(self, data: bytes, room: int) -> bytes:
        if self._zlib is None:
            return data
        try:
            out: bytes = self._zlib.decompress(data, max(room, 1))
        except zlib.error:
            raise ToolError("the response body is corrupt (bad compression)") from None
        if self._zlib.unconsumed_tail:
            self.overflow = True
        return out


def _render(
    response: httpx.Response,
    url: httpx.URL,
    text: str,
    truncated: bool,
    redirects: list[str],
    started: float,
) -> HttpResponse:
    if truncated:
        text += "\n[body truncated: only the first part is shown]"
    return HttpResponse(
        status=response.status_code,
        reason=response.reason_phrase,
        url=str(url),
        headers={
            name: response.headers[name][:500]
            for name in _SHOWN_HEADERS
            if name in response.headers
        },
        body=text,
        truncated=truncated,
        redirects=redirects,
        elapsed_ms=round((time.monotonic() - started) * 1000),
    )
