"""The SSRF guard's I/O half: resolve a target's host and refuse private answers.

``domain.addresses`` decides which addresses are acceptable; this module does the resolving,
at two moments (SPEC §5 "Endpoints"):

* when an endpoint is saved (:func:`check_url_target`), so the customer gets a 422 at once;
* at connect time on every attempt, because DNS can change after the check (DNS rebinding:
  a name that answered a public address at creation answers 127.0.0.1 later).

The connect-time check must look at the *same* answer the socket connects to, or an attacker
whose DNS alternates answers wins the race between "check" and "connect". The default ``http1``
transport (``delivery.http1``) resolves names with :func:`resolve_host`, checks the answer and
connects only to those addresses. With the ``aiohttp`` transport, :class:`GuardedResolver` is
aiohttp's resolver: aiohttp connects only to addresses it returned, and it returns only
checked ones (aiohttp's DNS cache only ever holds checked answers too). The httpcore transport
resolves on its own, so there the client calls :func:`target_problem` first, a pre-check with
a small window; that transport exists for comparison and tests, not production.

IP-literal URLs never reach a resolver, so :func:`target_problem` checks literals directly
for every transport.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

from hookrelay.domain.addresses import address_problem, check_resolved, validate_target_url

__all__ = [
    "CREATE_TIME_RESOLVE_TIMEOUT",
    "BlockedTargetError",
    "GuardedResolver",
    "check_url_target",
    "ip_literal",
    "resolve_host",
    "target_problem",
]

#: Endpoint creation waits at most this long for DNS; an API call must not hang on it.
CREATE_TIME_RESOLVE_TIMEOUT = 5.0
_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


class BlockedTargetError(Exception):
    """The target resolved to an address the SSRF guard refuses.

    Deliberately not an ``OSError``: aiohttp would wrap an OSError from a resolver into a DNS
    error, and a refusal must reach the client as itself to be recorded as BLOCKED.
    """

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host = host
        self.reason = reason


async def resolve_host(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[str]:
    """Return the IP addresses ``host`` resolves to (getaddrinfo in the loop's executor).

    The single place hookrelay resolves target names, so tests replace this function to
    make any name resolve anywhere. Raises ``socket.gaierror`` when the name does not resolve.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def ip_literal(host: str) -> str | None:
    """Return ``host`` as a normalised IP address if it is an IP literal, else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


async def target_problem(host: str, port: int, *, resolve: bool) -> str | None:
    """Return why connecting to ``host`` must be refused, or None.

    IP literals are judged as they are. Names are resolved and judged only if ``resolve``
    (the httpcore pre-check); the http1 and aiohttp transports judge them where they connect.
    Raises ``socket.gaierror`` if a name does not resolve.
    """
    literal = ip_literal(host)
    if literal is not None:
        return check_resolved([literal])
    if not resolve:
        return None
    return check_resolved(await resolve_host(host, port))


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that refuses private answers: the connect-time SSRF pin.

    With ``allow_private`` it still resolves through :func:`resolve_host` (one code path, one
    function for tests to replace) but accepts every address.
    """

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await resolve_host(host, port, family)
        if not self._allow_private:
            problem = check_resolved(addresses)
            if problem is not None:
                raise BlockedTargetError(host, problem)
        return [_result(host, address, port) for address in addresses]

    async def close(self) -> None:
        """Nothing to release: resolution runs in the loop's default executor."""


def _result(host: str, address: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    result: dict[str, Any] = {
        "hostname": host,
        "host": address,
        "port": port,
        "family": family,
        "proto": socket.IPPROTO_TCP,
        "flags": _NUMERIC,
    }
    return result  # type: ignore[return-value]


async def check_url_target(url: str, allow_private: bool) -> str | None:
    """Return why ``url`` cannot be an endpoint's target, or None (endpoint create/update).

    Syntax is always checked. Unless ``allow_private``, the host must also resolve, within
    :data:`CREATE_TIME_RESOLVE_TIMEOUT`, to public addresses only: a name that does not
    resolve cannot be shown to be safe, and is most often a typo worth a 422.
    """
    problem = validate_target_url(url)
    if problem is not None or allow_private:
        return problem
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    literal = ip_literal(host)
    if literal is not None:
        reason = address_problem(literal)
        return None if reason is None else f"{literal} is not a public address: {reason}"
    try:
        async with asyncio.timeout(CREATE_TIME_RESOLVE_TIMEOUT):
            addresses = await resolve_host(host, port)
    except TimeoutError:
        return f"resolving {host} timed out"
    except OSError as exc:
        return f"{host} does not resolve: {exc.strerror or exc}"
    return check_resolved(addresses)
