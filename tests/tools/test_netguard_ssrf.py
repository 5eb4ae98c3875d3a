"""SSRF attacks on http_request: an internal service on 127.0.0.1 must stay unreachable.

The internal service is a real HTTP server that records every request it gets; each
test checks that the tool refused *and* that the server never saw a request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from orchestrator.core.config import Settings
from orchestrator.core.errors import BlockedAddress, ToolError
from orchestrator.tools.netguard import AddressPolicy, IPAddress, Resolver, SafeHttpClient
from tests.tools.conftest import LoopbackServer, ToolCall

TRICKS = [
    "http://127.0.0.1:{port}/",
    "http://localhost:{port}/",
    "http://LOCALHOST:{port}/",
    "http://localhost.:{port}/",
    "http://127.0.0.1.:{port}/",
    "http://127.1:{port}/",
    "http://127.0.1:{port}/",
    "http://2130706433:{port}/",
    "http://0x7f000001:{port}/",
    "http://0x7f.1:{port}/",
    "http://0177.0.0.1:{port}/",
    "http://017700000001:{port}/",
    "http://0.0.0.0:{port}/",
    "http://[::1]:{port}/",
    "http://[::]:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[::ffff:7f00:1]:{port}/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/",
    "http://[::127.0.0.1]:{port}/",
    "http://[64:ff9b::127.0.0.1]:{port}/",
    "http://[2002:7f00:1::]:{port}/",
    "http://user:pass@127.0.0.1:{port}/",
    "http://example.com@127.0.0.1:{port}/",
    "http://example.com:80@127.0.0.1:{port}/",
    "http://127.0.0.1:{port}#@example.com/",
    "http://%31%32%37.0.0.1:{port}/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:{port}/_GET%20/",
    "ftp://127.0.0.1:{port}/",
]


def resolver_to(mapping: dict[str, list[str]]) -> Resolver:
    """A resolver answering from a table, as a hostile DNS server could."""

    async def resolve(host: str, port: int) -> list[IPAddress]:
        if host not in mapping:
            raise ToolError(f"cannot resolve {host}")
        return [ipaddress.ip_address(a) for a in mapping[host]]

    return resolve


@pytest.mark.parametrize("template", TRICKS)
async def test_http_request_blocks_loopback_in_every_disguise(
    call: ToolCall, secret_server: LoopbackServer, template: str
) -> None:
    url = template.format(port=secret_server.port)
    with pytest.raises(ToolError) as caught:
        await call("http_request", url=url)
    assert secret_server.body not in caught.value.message
    assert secret_server.requests == []


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "HEAD"])
async def test_http_request_blocks_loopback_for_every_method(
    call: ToolCall, secret_server: LoopbackServer, method: str
) -> None:
    with pytest.raises(BlockedAddress):
        await call("http_request", url=f"{secret_server.url}/", method=method, body="x")
    assert secret_server.requests == []


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["93.184.215.14", "127.0.0.1"], ["::1"], ["10.0.0.5"], ["169.254.169.254"]],
)
async def test_dns_names_resolving_inside_are_blocked(
    secret_server: LoopbackServer, addresses: list[str]
) -> None:
    client = SafeHttpClient(resolver=resolver_to({"innocent.example": addresses}))
    with pytest.raises(BlockedAddress, match=r"innocent\.example resolves to"):
        await client.request("GET", f"http://innocent.example:{secret_server.port}/")
    assert secret_server.requests == []


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/",
        "http://localhost:{port}/",
        "http://[::1]:{port}/",
        "http://2130706433:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://internal.example:{port}/",
        "//127.0.0.1:{port}/",
    ],
)
async def test_redirects_to_internal_addresses_are_blocked(
    serve: Callable[..., LoopbackServer], secret_server: LoopbackServer, location: str
) -> None:
    public = serve("PUBLIC", redirect_to=location.format(port=secret_server.port))
    # The "public" server really runs on 127.0.0.1 too: the policy opens its name only.
    client = SafeHttpClient(
        policy=AddressPolicy(["public.example"]),
        resolver=resolver_to(
            {
                "public.example": ["127.0.0.1"],
                "internal.example": ["127.0.0.1"],
                "localhost": ["127.0.0.1", "::1"],
            }
        ),
    )
    with pytest.raises(BlockedAddress):
        await client.request("GET", f"http://public.example:{public.port}/redirect")
    assert [r[1] for r in public.requests] == ["/redirect"]
    assert secret_server.requests == []


async def test_redirect_chains_stop_after_five_hops(serve: Callable[..., LoopbackServer]) -> None:
    looping = serve("LOOP")
    looping.redirect_to = f"http://public.example:{looping.port}/redirect"
    client = SafeHttpClient(
        policy=AddressPolicy(["public.example"]),
        resolver=resolver_to({"public.example": ["127.0.0.1"]}),
    )
    with pytest.raises(ToolError, match="stopped after 5 redirects"):
        await client.request("GET", f"http://public.example:{looping.port}/redirect")
    assert len(looping.requests) == 6


async def test_connection_goes_to_the_vetted_address_only(
    serve: Callable[..., LoopbackServer],
) -> None:
    """DNS rebinding: the name is resolved once, checked, and that address is connected to."""
    public = serve("PUBLIC")
    answers = iter([["127.0.0.1"], ["10.9.9.9"]])  # a second lookup would get another answer
    lookups: list[str] = []

    async def rebinding(host: str, port: int) -> list[IPAddress]:
        lookups.append(host)
        return [ipaddress.ip_address(a) for a in next(answers)]

    client = SafeHttpClient(policy=AddressPolicy(["127.0.0.1/32"]), resolver=rebinding)
    response = await client.request("GET", f"http://rebind.example:{public.port}/x")
    assert response.status == 200 and response.body.startswith("PUBLIC GET /x")
    assert lookups == ["rebind.example"]  # the system resolver was never asked
    assert public.requests[0][2]["Host"] == f"rebind.example:{public.port}"


async def test_metadata_endpoints_stay_blocked_even_when_allowlisted() -> None:
    client = SafeHttpClient(
        policy=AddressPolicy(["169.254.0.0/16", "metadata.google.internal", "cloud.example"]),
        resolver=resolver_to({"cloud.example": ["169.254.169.254"]}),
    )
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://cloud.example/",
        "http://[fd00:ec2::254]/",
    ):
        with pytest.raises(BlockedAddress, match="metadata"):
            await client.request("GET", url)


async def test_environment_proxies_are_ignored(
    monkeypatch: pytest.MonkeyPatch, serve: Callable[..., LoopbackServer]
) -> None:
    proxy = serve("PROXY")
    public = serve("PUBLIC")
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy.url)
    client = SafeHttpClient(policy=AddressPolicy(["127.0.0.1"]))
    response = await client.request("GET", f"{public.url}/")
    assert response.body.startswith("PUBLIC")
    assert proxy.requests == []


async def test_allowlist_host_port_opens_that_port_only(
    serve: Callable[..., LoopbackServer],
) -> None:
    opened, other = serve("OPENED"), serve("OTHER")
    client = SafeHttpClient(policy=AddressPolicy([f"127.0.0.1:{opened.port}"]))
    assert (await client.request("GET", f"{opened.url}/")).body.startswith("OPENED")
    with pytest.raises(BlockedAddress, match="loopback"):
        await client.request("GET", f"{other.url}/")
    assert other.requests == []
    by_name = SafeHttpClient(
        policy=AddressPolicy([f"localhost:{opened.port}"]),
        resolver=resolver_to({"localhost": ["127.0.0.1"]}),
    )
    assert (await by_name.request("GET", f"http://localhost:{opened.port}/")).status == 200
    with pytest.raises(BlockedAddress):
        await by_name.request("GET", f"http://localhost:{other.port}/")


async def test_allowlist_entry_without_a_port_keeps_meaning_any_port(
    serve: Callable[..., LoopbackServer],
) -> None:
    one, two = serve("ONE"), serve("TWO")
    for entry in ("127.0.0.1", "127.0.0.0/8", "[127.0.0.1]"):
        client = SafeHttpClient(policy=AddressPolicy([entry]))
        assert (await client.request("GET", f"{one.url}/")).body.startswith("ONE")
        assert (await client.request("GET", f"{two.url}/")).body.startswith("TWO")


@pytest.mark.parametrize(
    "entry", ["http://intranet:8080", "intra net", "host:port", "host:0", "host:99999", "[::1]x"]
)
def test_an_allowlist_entry_that_cannot_be_read_is_refused_at_start(entry: str) -> None:
    with pytest.raises(ValueError, match="HTTP_ALLOWLIST entry"):
        Settings(_env_file=None, http_allowlist=f"public.example,{entry}")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="HTTP_ALLOWLIST entry"):
        AddressPolicy([entry])


@pytest.mark.parametrize(
    "entry",
    ["intranet", "intranet:8080", "10.0.0.5:443", "10.0.0.0/8", "[fd00::1]:8080", "fd00::/8"],
)
def test_allowlist_entries_of_every_documented_form_are_accepted(entry: str) -> None:
    assert Settings(_env_file=None, http_allowlist=entry).http_allowlist == [entry]  # type: ignore[call-arg]
