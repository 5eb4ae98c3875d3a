"""The address rules on their own: which addresses count as internal, and what opens them."""

from __future__ import annotations

import ipaddress

import pytest

from orchestrator.core.errors import BlockedAddress
from orchestrator.tools.netguard import AddressPolicy, blocked_reason

INTERNAL = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "100.64.0.1": "carrier-grade NAT",
    "169.254.1.1": "link-local",
    "169.254.169.254": "metadata",
    "0.0.0.0": "this network",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "broadcast",
    "192.0.2.10": "documentation",
    "198.51.100.1": "documentation",
    "203.0.113.1": "documentation",
    "198.18.0.1": "benchmarking",
    "192.0.0.192": "metadata",
    "::1": "loopback",
    "::": "unspecified",
    "::ffff:127.0.0.1": "IPv4-mapped",
    "::ffff:8.8.8.8": "IPv4-mapped",
    "::127.0.0.1": "IPv4-compatible",
    "64:ff9b::a00:1": "NAT64 (embeds 10.0.0.1)",
    "64:ff9b:1::1": "local-use NAT64",
    "2002:c0a8:101::1": "6to4 (embeds 192.168.1.1)",
    "2001:0:4136:e378::1": "Teredo",
    "2001:db8::1": "documentation",
    "fc00::1": "unique local",
    "fd00:ec2::254": "metadata",
    "fe80::1": "link-local",
    "fec0::1": "site-local",
    "ff02::1": "multicast",
    "100::1": "discard",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "2a00:1450:4007::64"]


@pytest.mark.parametrize(("address", "label"), INTERNAL.items())
def test_internal_addresses_are_named_and_blocked(address: str, label: str) -> None:
    reason = blocked_reason(ipaddress.ip_address(address))
    assert reason is not None and label in reason
    with pytest.raises(BlockedAddress):
        AddressPolicy().check_address("host.example", ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None
    AddressPolicy().check_address("host.example", ipaddress.ip_address(address))


def test_allowlist_opens_names_and_networks_but_not_others() -> None:
    policy = AddressPolicy(["ollama.lan", "10.0.0.0/8", "[fd12::1]", ""])
    policy.check_address("ollama.lan", ipaddress.ip_address("192.168.1.20"))
    policy.check_address("OLLAMA.lan.", ipaddress.ip_address("127.0.0.1"))
    policy.check_address("anything.example", ipaddress.ip_address("10.20.30.40"))
    policy.check_address("anything.example", ipaddress.ip_address("fd12::1"))
    with pytest.raises(BlockedAddress, match="HTTP_ALLOWLIST"):
        policy.check_address("other.lan", ipaddress.ip_address("192.168.1.20"))
    with pytest.raises(BlockedAddress, match="always blocked"):
        policy.check_address("ollama.lan", ipaddress.ip_address("169.254.169.254"))
