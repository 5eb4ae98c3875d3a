"""HTTP requests that cannot be turned against the server's own network (SSRF).

Every hop - the first URL and each redirect - is parsed once with `httpx.URL`, checked
(http/https only, no credentials in the URL, no non-canonical numeric hosts such as
`0x7f.1`, `2130706433` or `127.1`, no cloud metadata names), resolved once, and every
resolved address is checked with `ipaddress` (loopback, private, link-local, CGNAT,
multicast, reserved, documentation, IPv4-mapped/compatible, 6to4, NAT64, Teredo,
site-local, ULA, metadata endpoints). The connection then goes to the vetted address
itself - a pinned httpcore network backend ignores what the name would resolve to
now - while the Host header, TLS SNI and certificate checks keep using the name.
Environment proxies are ignored. Hosts in `HTTP_ALLOWLIST` skip the private-address
check (metadata endpoints stay blocked). Bodies are streamed and capped; the total time
of the request, redirects included, is capped too.

    client = SafeHttpClient.from_settings(settings)
    response = await client.request("GET", "https://example.org/")
"""

from orchestrator.tools.netguard._client import (
    MAX_BODY_BYTES,
    MAX_REDIRECTS,
    METHODS,
    HttpResponse,
    SafeHttpClient,
)
from orchestrator.tools.netguard._policy import (
    METADATA_ADDRESSES,
    METADATA_HOSTS,
    AddressPolicy,
    IPAddress,
    Resolver,
    blocked_reason,
    system_resolver,
)

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_REDIRECTS",
    "METADATA_ADDRESSES",
    "METADATA_HOSTS",
    "METHODS",
    "AddressPolicy",
    "HttpResponse",
    "IPAddress",
    "Resolver",
    "SafeHttpClient",
    "blocked_reason",
    "system_resolver",
]
