"""Which hosts and addresses a tool may reach: the SSRF rules, in one place."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable

from orchestrator.core.config import parse_allow_entry
from orchestrator.core.errors import BlockedAddress, ToolArgumentError, ToolError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

_HOST_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")

METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
        "169.254.169.254.nip.io",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
        "fd00:ec2::254",  # AWS over IPv6
    )
)

# Checked in order, before Python's own `is_global`; labels are what the model reads.
_BLOCKED_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(net), label)
    for net, label in (
        ("0.0.0.0/8", "'this network' (unspecified)"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT (shared)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::ffff:0:0/96", "IPv4-mapped IPv6"),
        ("::/96", "IPv4-compatible IPv6"),
        ("64:ff9b::/96", "NAT64"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/32", "Teredo"),
        ("2001:2::/48", "benchmarking"),
        ("2001:db8::/32", "documentation"),
        ("2002::/16", "6to4"),
        ("3fff::/20", "documentation"),
        ("fc00::/7", "unique local (ULA)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)


def blocked_reason(address: IPAddress) -> str | None:
    """Why this address is not a public one, or None if it is."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata endpoint"
    for network, label in _BLOCKED_NETWORKS:
        if address.version == network.version and address in network:
            embedded = _embedded_ipv4(address, network)
            return f"{label} (embeds {embedded})" if embedded else label
    if not address.is_global or address.is_multicast:
        return "not a public address"
    return None


# IPv6 ranges that carry an IPv4 address, and where it sits: shown so a reader sees
# that, say, 64:ff9b::7f00:1 is 127.0.0.1 in disguise. They are blocked outright.
_EMBEDDING = {
    ipaddress.ip_network("::ffff:0:0/96"): 0,
    ipaddress.ip_network("::/96"): 0,
    ipaddress.ip_network("64:ff9b::/96"): 0,
    ipaddress.ip_network("2002::/16"): 80,
}


def _embedded_ipv4(
    address: IPAddress, network: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> ipaddress.IPv4Address | None:
    shift = _EMBEDDING.get(network)
    if shift is None:
        return None
    return ipaddress.IPv4Address((int(address) >> shift) & 0xFFFFFFFF)


class AddressPolicy:
    """Which hosts and addresses may be contacted; `allowlist` names hosts, IPs or CIDRs,
    each optionally with a `:port` (without one, any port). An entry it cannot read is
    refused (ValueError), never silently ignored."""

    def __init__(self, allowlist: Iterable[str] = ()) -> None:
        self._entries = [parse_allow_entry(e) for e in allowlist if e.strip()]

    def host_allowed(self, host: str, port: int | None = None) -> bool:
        """Whether an admin opened this host name explicitly (on this port)."""
        name = host.lower().rstrip(".")
        return any(e.host == name and (e.port is None or e.port == port) for e in self._entries)

    def check_address(self, host: str, address: IPAddress, port: int | None = None) -> None:
        """Raise BlockedAddress unless `address` (resolved from `host`) may be contacted."""
        reason = blocked_reason(address)
        if reason is None:
            return
        opened = self.host_allowed(host, port) or any(
            e.network is not None
            and address.version == e.network.version
            and address in e.network
            and (e.port is None or e.port == port)
            for e in self._entries
        )
        if opened and address not in METADATA_ADDRESSES:  # metadata stays closed, always
            return
        what = str(address) if _is_literal(host, address) else f"{host} resolves to {address}"
        if address in METADATA_ADDRESSES:
            raise BlockedAddress(f"{what}: {reason}; requests to it are always blocked")
        raise BlockedAddress(
            f"{what}: {reason}; requests to internal addresses are blocked "
            "(an admin can open a host with HTTP_ALLOWLIST)"
        )


def _is_literal(host: str, address: IPAddress) -> bool:
    try:
        return ipaddress.ip_address(host) == address
    except ValueError:
        return False


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Resolve with the system's getaddrinfo, in a thread."""
    try:
        infos = await asyncio.to_thread(
            socket.getaddrinfo, host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise ToolError(f"cannot resolve {host}: {exc}") from None
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        seen[ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])] = None
    return list(seen)


def literal_address(host: str) -> IPAddress | None:
    """The address if `host` is a canonical IP literal; refuses every other numeric form."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    last = host.rstrip(".").rsplit(".", 1)[-1]
    # The WHATWG URL rule: a host whose last label is a number is an IPv4 address, and
    # libc would read `127.1`, `0x7f.1`, `0177.0.0.1` or `2130706433` as one.
    if last.isdigit() or re.fullmatch(r"0x[0-9a-f]*", last):
        raise BlockedAddress(
            f"{host!r} is a non-canonical numeric address; write IPv4 as a.b.c.d in decimal"
        )
    return None


def check_host_name(host: str) -> None:
    """Refuse malformed names and cloud metadata names (before any DNS query)."""
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise ToolArgumentError(f"{host!r} is not a valid host name")
    if host.rstrip(".") in METADATA_HOSTS:
        raise BlockedAddress(f"{host} is a cloud metadata endpoint; requests to it are blocked")
