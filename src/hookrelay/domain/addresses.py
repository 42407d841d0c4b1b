"""SSRF guard policy: which target URLs and resolved addresses a delivery may reach.

A webhook URL is chosen by the customer, so without a guard hookrelay would POST on their
behalf to its own network: cloud metadata (169.254.169.254), the database, localhost admin
ports. SPEC §5 refuses URLs that resolve to loopback, private, link-local or reserved
addresses unless ``HOOKRELAY_ALLOW_PRIVATE_TARGETS``, at creation and again at connect time.

This module only decides; the resolving and connecting happen in ``delivery/``. Rules:

* an address is public only if it lies in no special-purpose range below (a fixed list, not
  ``ipaddress.is_global``, whose answers changed between Python patch releases);
* IPv6 must be global unicast (2000::/3); IPv6 forms that embed an IPv4 address
  (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by
  that IPv4 address, since that is where the packets go;
* one bad address in a DNS answer refuses the whole name: the client may pick any of them;
* anything unparseable is refused (fail closed).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from urllib.parse import urlsplit

__all__ = ["address_problem", "check_resolved", "is_public_address", "validate_target_url"]

IPAddress = IPv4Address | IPv6Address

_V4_BLOCKED: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), label)
    for net, label in (
        ("0.0.0.0/8", "unspecified ('this network')"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved (6to4 relay anycast)"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved (benchmarking)"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)

_V6_GLOBAL_UNICAST = IPv6Network("2000::/3")
_V6_MAPPED = IPv6Network("::ffff:0:0/96")
_V6_NAT64 = IPv6Network("64:ff9b::/96")
_V6_6TO4 = IPv6Network("2002::/16")
# Checked before the 2000::/3 test so the label says more than "reserved".
_V6_BLOCKED: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), label)
    for net, label in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "reserved (IPv4-compatible)"),
        ("64:ff9b:1::/48", "private (local-use NAT64)"),
        ("100::/64", "reserved (discard-only)"),
        ("2001::/23", "reserved (IETF protocol assignments, incl. Teredo)"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("fc00::/7", "private (unique local)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "link-local (deprecated site-local)"),
        ("ff00::/8", "multicast"),
    )
)


def _parse(ip: str | IPAddress) -> IPAddress | None:
    if isinstance(ip, (IPv4Address, IPv6Address)):
        return ip
    if not isinstance(ip, str):
        return None
    try:
        return ipaddress.ip_address(ip.strip())
    except ValueError:
        return None


def _v4_problem(ip: IPv4Address) -> str | None:
    for network, label in _V4_BLOCKED:
        if ip in network:
            return label
    return None


def _embedded_v4(ip: IPv6Address) -> IPv4Address | None:
    if ip in _V6_MAPPED:
        return ip.ipv4_mapped
    if ip in _V6_NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _V6_6TO4:
        return ip.sixtofour
    return None


def address_problem(ip: str | IPAddress) -> str | None:
    """Return why ``ip`` is not a public address (e.g. ``"loopback"``), or None if it is."""
    parsed = _parse(ip)
    if parsed is None:
        return "not an IP address"
    if isinstance(parsed, IPv4Address):
        return _v4_problem(parsed)
    embedded = _embedded_v4(parsed)
    if embedded is not None:
        problem = _v4_problem(embedded)
        return None if problem is None else f"{problem} (embedded IPv4 {embedded})"
    for network, label in _V6_BLOCKED:
        if parsed in network:
            return label
    if parsed not in _V6_GLOBAL_UNICAST:
        return "reserved"
    return None


def is_public_address(ip: str | IPAddress) -> bool:
    """True if ``ip`` is an ordinary internet address a webhook may be sent to.

    Accepts a string or an ``ipaddress`` object; an unparseable string gives False.
    """
    return address_problem(ip) is None


def check_resolved(addresses: Iterable[str | IPAddress]) -> str | None:
    """Return why a DNS answer must be refused, or None if every address in it is public.

    An empty answer is refused too: there is nothing safe to connect to.
    """
    seen = False
    for address in addresses:
        seen = True
        problem = address_problem(address)
        if problem is not None:
            return f"{address} is not a public address: {problem}"
    return None if seen else "the host resolved to no address"


MAX_URL_LENGTH = 2048
_ALLOWED_SCHEMES = frozenset({"http", "https"})


def validate_target_url(url: str) -> str | None:
    """Return what is wrong with ``url`` as a webhook target, or None if it is acceptable.

    Syntax only, no DNS: http(s) scheme, a host, a valid port, no ``user:password@``
    (credentials in URLs end up in logs and the dashboard; use endpoint headers instead),
    no whitespace or control characters. Whether the host resolves to a public address is
    checked separately with :func:`check_resolved`.
    """
    if not isinstance(url, str) or not url:
        return "URL is empty"
    if len(url) > MAX_URL_LENGTH:
        return f"URL is longer than {MAX_URL_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "URL contains whitespace or control characters"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "URL cannot be parsed"
    if parts.scheme.lower() not in _ALLOWED_SCHEMES:
        return "URL scheme must be http or https"
    if "@" in parts.netloc:
        return "URL must not contain credentials (user:password@)"
    if "\\" in parts.netloc or not parts.hostname:
        return "URL has no host"
    try:
        port = parts.port
    except ValueError:
        return "URL has an invalid port"
    if port == 0:
        return "URL has an invalid port"
    if "[" in parts.netloc:
        # urlsplit already insists that a bracketed host is an IPv6 literal; zone ids
        # ("%eth0") only make sense for link-local addresses, which are never targets.
        if "%" in parts.hostname:
            return "URL host must not carry an IPv6 zone id"
    elif not _is_hostname(parts.hostname):
        return "URL host is not a valid host name"
    return None


def _is_hostname(host: str) -> bool:
    """True for an IPv4 literal or a DNS name (IDN allowed) with 1–63-character labels."""
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    name = ascii_host[:-1] if ascii_host.endswith(".") else ascii_host
    if not name or len(name) > 253:
        return False
    return all(
        0 < len(label) <= 63
        and not label.startswith("-")
        and not label.endswith("-")
        and all(ch.isalnum() or ch in "-_" for ch in label)
        for label in name.split(".")
    )
