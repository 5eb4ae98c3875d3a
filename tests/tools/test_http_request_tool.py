"""Honest use of http_request: allowlisted servers answer, with sizes and headers bounded."""

from __future__ import annotations

import gzip
import ipaddress
import json
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.core.config import Settings
from orchestrator.core.errors import ToolArgumentError, ToolError
from orchestrator.tools.base import ToolContext
from orchestrator.tools.netguard import AddressPolicy, IPAddress, SafeHttpClient
from orchestrator.tools.registry import ToolRegistry
from tests.tools.conftest import LoopbackServer

OpenCall = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def open_call(registry: ToolRegistry, settings: Settings, ctx: ToolContext) -> OpenCall:
    """http_request with 127.0.0.1 opened by the admin (HTTP_ALLOWLIST=127.0.0.1)."""
    opened = settings.model_copy(update={"http_allowlist": ["127.0.0.1"]})
    context = ToolContext(user_id=1, workspace=ctx.workspace, settings=opened)

    async def run(**arguments: object) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(await registry.get("http_request")(context, arguments))
        return result

    return run


async def test_http_request_reaches_an_allowlisted_server(
    open_call: OpenCall, serve: Callable[..., LoopbackServer]
) -> None:
    server = serve("HELLO")
    response = await open_call(url=f"{server.url}/path?q=1")
    assert response["status"] == 200
    assert response["body"] == "HELLO GET /path?q=1 "
    assert response["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert "x-internal" not in response["headers"]
    assert response["redirects"] == [] and response["truncated"] is False


async def test_http_request_sends_method_headers_and_body(
    open_call: OpenCall, serve: Callable[..., LoopbackServer]
) -> None:
    server = serve("ECHO")
    response = await open_call(
        url=f"{server.url}/items",
        method="POST",
        headers={"X-Token": "abc", "Content-Type": "application/json"},
        body='{"a": 1}',
    )
    assert response["body"] == 'ECHO POST /items {"a": 1}'
    method, path, headers = server.requests[0]
    assert (method, path, headers["X-Token"]) == ("POST", "/items", "abc")


async def test_http_request_follows_redirects_within_the_rules(
    open_call: OpenCall, serve: Callable[..., LoopbackServer]
) -> None:
    server = serve("LANDED", redirect_to="/landing")
    response = await open_call(url=f"{server.url}/redirect")
    assert response["status"] == 200 and response["body"] == "LANDED GET /landing "
    assert response["redirects"] == [f"{server.url}/landing"]


async def test_credentials_are_not_forwarded_to_another_origin(
    serve: Callable[..., LoopbackServer],
) -> None:
    target = serve("TARGET")
    origin = serve("ORIGIN", redirect_to=f"{target.url}/next")
    client = SafeHttpClient(policy=AddressPolicy(["127.0.0.1"]))
    await client.request("GET", f"{origin.url}/redirect", headers={"Authorization": "Bearer t"})
    assert origin.requests[0][2]["Authorization"] == "Bearer t"
    assert "Authorization" not in target.requests[0][2]


async def test_large_bodies_are_capped_and_flagged(serve: Callable[..., LoopbackServer]) -> None:
    server = serve("", payload=b"a" * 5000)
    client = SafeHttpClient(policy=AddressPolicy(["127.0.0.1"]), max_body_bytes=1000)
    response = await client.request("GET", server.url)
    assert response.truncated and response.body.startswith("a" * 1000)
    assert response.body.endswith("[body truncated: only the first part is shown]")


async def test_compressed_bombs_are_inflated_only_up_to_the_cap(
    serve: Callable[..., LoopbackServer],
) -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)  # 50 MB of zeros in about 50 kB
    server = serve("", payload=bomb, headers={"Content-Encoding": "gzip"})
    client = SafeHttpClient(policy=AddressPolicy(["127.0.0.1"]), max_body_bytes=10_000)
    response = await client.request("GET", server.url)
    assert response.truncated
    assert len(response.body) < 20_000


async def test_binary_bodies_are_described_not_dumped(
    serve: Callable[..., LoopbackServer],
) -> None:
    server = serve("", payload=b"\x89PNG\x00\x00\x01", headers={"Content-Type": "image/png"})
    response = await SafeHttpClient(policy=AddressPolicy(["127.0.0.1"])).request("GET", server.url)
    assert response.body == "[binary body of type image/png, not shown]"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Host": "internal"}, "set by the client"),
        ({"Transfer-Encoding": "chunked"}, "set by the client"),
        ({"Proxy-Foo": "x"}, "set by the client"),
        ({"X-Evil": "a\r\nHost: internal"}, "line break"),
        ({"bad header": "x"}, "invalid header name"),
    ],
)
async def test_request_headers_cannot_be_smuggled(headers: dict[str, str], message: str) -> None:
    with pytest.raises(ToolArgumentError, match=message):
        await SafeHttpClient().request("GET", "http://example.com/", headers=headers)


async def test_unreachable_servers_give_a_readable_error(
    settings: Settings, registry: ToolRegistry, ctx: ToolContext
) -> None:
    client = SafeHttpClient(policy=AddressPolicy(["127.0.0.1"]))
    with pytest.raises(ToolError, match="the request failed: ConnectError"):
        await client.request("GET", "http://127.0.0.1:9/")  # discard port: nothing listens
    with pytest.raises(ToolArgumentError, match="method"):
        await registry.get("http_request")(ctx, {"url": "http://example.com/", "method": "TRACE"})


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName=DNS:{name}"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize(("served", "ok"), [("public.example", True), ("other.example", False)])
async def test_tls_checks_the_name_while_connecting_to_the_pinned_address(
    tmp_path: Path, serve: Callable[..., LoopbackServer], served: str, ok: bool
) -> None:
    cert, key = _certificate(tmp_path, served)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    server = serve("OVER TLS", tls=server_tls)

    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("127.0.0.1")]

    client = SafeHttpClient(
        policy=AddressPolicy(["public.example"]),
        resolver=resolve,
        ssl_context=ssl.create_default_context(cafile=str(cert)),
    )
    url = f"https://public.example:{server.port}/secure"
    if ok:
        response = await client.request("GET", url)
        assert response.body == "OVER TLS GET /secure "
    else:
        with pytest.raises(ToolError, match=r"CERTIFICATE_VERIFY_FAILED|hostname"):
            await client.request("GET", url)
