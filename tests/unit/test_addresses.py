"""SSRF policy: which resolved addresses and target URLs a delivery may reach."""

from __future__ import annotations

import ipaddress

import pytest

from hookrelay.domain.addresses import (
    address_problem,
    check_resolved,
    is_public_address,
    validate_target_url,
)

PUBLIC = [
    "1.1.1.1",
    "8.8.8.8",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "100.128.0.0",  # just above CGNAT
    "172.15.255.255",  # just below 172.16/12
    "172.32.0.0",  # just above
    "169.253.255.255",
    "192.167.255.255",
    "223.255.255.255",  # last unicast before multicast
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "2a00:1450:4001::200e",
    "::ffff:8.8.8.8",  # IPv4-mapped public
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    "2002:0808:0808::1",  # 6to4 of 8.8.8.8
]

BLOCKED = {
    # IPv4
    "0.0.0.0": "unspecified",
    "0.1.2.3": "unspecified",
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "10.0.0.1": "private",
    "10.255.255.255": "private",
    "172.16.0.1": "private",
    "172.31.255.255": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",  # cloud metadata
    "169.254.0.1": "link-local",
    "100.64.0.1": "carrier-grade NAT",
    "100.127.255.255": "carrier-grade NAT",
    "192.0.0.8": "reserved",
    "192.0.2.1": "documentation",
    "198.51.100.7": "documentation",
    "203.0.113.9": "documentation",
    "198.18.0.1": "benchmarking",
    "198.19.255.255": "benchmarking",
    "192.88.99.1": "reserved",
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "broadcast",
    # IPv6
    "::": "unspecified",
    "::1": "loopback",
    "::127.0.0.1": "reserved",  # deprecated IPv4-compatible
    "fc00::1": "private",
    "fd12:3456:789a::1": "private",
    "fe80::1": "link-local",
    "fe80::1%eth0": "link-local",
    "febf::1": "link-local",
    "fec0::1": "site-local",
    "ff02::1": "multicast",
    "ff0e::1": "multicast",
    "2001:db8::1": "documentation",
    "3fff::1": "documentation",
    "2001::1": "Teredo",
    "100::1": "discard",
    "64:ff9b:1::1": "NAT64",
    "4000::1": "reserved",  # outside 2000::/3
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped must be judged by the IPv4
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "link-local",
    "::ffff:0.0.0.0": "unspecified",
    "64:ff9b::7f00:1": "loopback",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe": "link-local",  # NAT64 of 169.254.169.254
    "2002:7f00:0001::1": "loopback",  # 6to4 of 127.0.0.1
    "2002:c0a8:0101::1": "private",  # 6to4 of 192.168.1.1
}


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_addresses(ip: str) -> None:
    assert is_public_address(ip)
    assert is_public_address(ipaddress.ip_address(ip))
    assert address_problem(ip) is None


@pytest.mark.parametrize(("ip", "label"), list(BLOCKED.items()))
def test_blocked_addresses(ip: str, label: str) -> None:
    assert not is_public_address(ip)
    problem = address_problem(ip)
    assert problem is not None and label in problem


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "10.1.2.3", "fd00::1"])
def test_ipaddress_objects_are_classified_like_strings(ip: str) -> None:
    assert not is_public_address(ipaddress.ip_address(ip))


@pytest.mark.parametrize(
    "value", ["", "localhost", "example.com", "127.1", "2130706433", "0x7f.0.0.1", "1.2.3.4.5", None, 5]
)
def test_unparseable_addresses_are_refused(value: object) -> None:
    # Fail closed: whatever the resolver hands back must be a literal address.
    assert not is_public_address(value)  # type: ignore[arg-type]


# --- check_resolved --------------------------------------------------------------------------


def test_all_public_answer_passes() -> None:
    assert check_resolved(["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]) is None
    assert check_resolved([ipaddress.ip_address("8.8.8.8")]) is None


def test_one_private_address_refuses_the_whole_answer() -> None:
    reason = check_resolved(["93.184.216.34", "10.0.0.5", "8.8.8.8"])
    assert reason is not None
    assert "10.0.0.5" in reason and "private" in reason


def test_mapped_loopback_in_answer_is_refused() -> None:
    reason = check_resolved(["8.8.8.8", "::ffff:127.0.0.1"])
    assert reason is not None and "loopback" in reason


def test_metadata_address_is_refused() -> None:
    reason = check_resolved(["169.254.169.254"])
    assert reason is not None and "link-local" in reason


def test_empty_answer_is_refused() -> None:
    assert check_resolved([]) is not None
    assert check_resolved(iter([])) is not None


def test_garbage_in_answer_is_refused() -> None:
    reason = check_resolved(["8.8.8.8", "not-an-ip"])
    assert reason is not None and "not-an-ip" in reason


# --- validate_target_url ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/webhooks",
        "http://example.com",
        "HTTPS://Example.COM:8443/a/b?c=d#frag",
        "https://hooks.example.com./x",
        "https://my_host.example.com/x",
        "http://localhost:4242/webhooks",  # syntax is fine; the address check refuses it later
        "http://127.0.0.1:8000/",
        "http://[::1]:8000/",
        "https://[2606:4700:4700::1111]/",
        "https://b\u00fccher.example/hook",  # IDN
        "https://example.com/path/with@at-sign",
        "https://example.com:65535/",
    ],
)
def test_acceptable_urls(url: str) -> None:
    assert validate_target_url(url) is None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "empty"),
        ("ftp://example.com/x", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://example.com:70/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("example.com/webhooks", "scheme"),
        ("//example.com/webhooks", "scheme"),
        ("https://", "host"),
        ("https:///path", "host"),
        ("http://:8080/", "host"),
        ("https://user:pass@example.com/", "credentials"),
        ("https://user@example.com/", "credentials"),
        ("https://example.com@169.254.169.254/", "credentials"),
        ("https://:@example.com/", "credentials"),
        ("https://example.com:99999/", "port"),
        ("https://example.com:0/", "port"),
        ("https://example.com:abc/", "port"),
        ("https://exa mple.com/", "whitespace"),
        (" https://example.com/", "whitespace"),
        ("https://example.com/\n", "whitespace"),
        ("https://example.com/\x00", "control"),
        ("https://[::1/", "parsed"),
        ("https://[not-ipv6]/", "parsed"),
        ("https://[fe80::1%25eth0]/", "zone"),
        ("https://exa..mple.com/", "host name"),
        ("https://-bad.example.com/", "host name"),
        ("https://" + "a" * 64 + ".com/", "host name"),
        ("https://ex!ample.com/", "host name"),
        ("https://example.com/" + "a" * 3000, "longer"),
    ],
)
def test_unacceptable_urls(url: str, fragment: str) -> None:
    problem = validate_target_url(url)
    assert problem is not None
    assert fragment in problem


def test_non_string_url_is_refused() -> None:
    assert validate_target_url(None) is not None  # type: ignore[arg-type]
