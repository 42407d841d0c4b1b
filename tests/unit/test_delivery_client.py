"""DeliveryClient: every attempt ends as a SendResult, and the SSRF guard holds at connect time.

respx mocks the "httpcore" transport (it patches httpcore's pool). The "http1" transport (the
production default, hookrelay's own) and the "aiohttp" one are tested against a real aiohttp
server on 127.0.0.1; their SSRF guards sit where they connect.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import respx
import standardwebhooks.webhooks as std
from aiohttp import web

from hookrelay.delivery import ssrf
from hookrelay.delivery.client import RESPONSE_BODY_LIMIT, DeliveryClient
from hookrelay.delivery.request import WebhookRequest, build_webhook_request
from hookrelay.domain.outcomes import Outcome, TransportError, classify

SECRET = "whsec_" + base64.b64encode(bytes(range(24))).decode()
PUBLIC_URL = "https://hooks.example.com/in"
PUBLIC_IP = "93.184.215.14"

DNS: dict[str, list[str]] = {
    "hooks.example.com": [PUBLIC_IP],
    "rebind.example.com": ["127.0.0.1"],
    "mixed.example.com": [PUBLIC_IP, "10.0.0.7"],
}


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Replace hookrelay's one resolution function: no test depends on real DNS."""
    table = dict(DNS)

    async def resolve_host(host: str, port: int, family: int = 0) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    monkeypatch.setattr(ssrf, "resolve_host", resolve_host)
    return table


def _request(url: str = PUBLIC_URL) -> WebhookRequest:
    return build_webhook_request(
        url=url,
        event_id="evt_1",
        event_type="invoice.paid",
        event_created_at="2026-11-22T21:50:01Z",
        data={"amount": 10},
        delivery_id="dlv_1",
        attempt=1,
        secrets=[SECRET],
        timestamp=int(time.time()),
        custom_headers={"X-Tenant": "acme"},
        version="0.1.0",
    )


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., DeliveryClient]]:
    clients: list[DeliveryClient] = []

    def make(**options: object) -> DeliveryClient:
        options.setdefault("transport", "httpcore")
        options.setdefault("timeout", 2.0)
        client = DeliveryClient(**options)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


# --- respx, httpcore transport -----------------------------------------------------------------


@respx.mock
async def test_200_is_a_success_with_the_exact_request(make_client) -> None:
    route = respx.post(PUBLIC_URL).respond(200, text="thanks", headers={"x-receipt": "r1"})
    request = _request()
    result = await make_client().send(request)
    assert (result.status, result.error, result.error_message) == (200, None, None)
    assert result.body == "thanks"
    assert result.headers["x-receipt"] == "r1"
    assert result.duration_ms >= 0
    assert classify(result.attempt_result) is Outcome.SUCCESS
    sent = route.calls.last.request
    assert sent.content == request.body
    for name, value in request.headers:
        assert sent.headers[name] == value
    std.Webhook(SECRET).verify(sent.content, dict(sent.headers))


@respx.mock
async def test_500_is_an_answer_to_retry(make_client) -> None:
    respx.post(PUBLIC_URL).respond(500, text="boom")
    result = await make_client().send(_request())
    assert (result.status, result.error, result.body) == (500, None, "boom")
    assert classify(result.attempt_result) is Outcome.RETRY


@respx.mock
async def test_redirects_are_not_followed(make_client) -> None:
    respx.post(PUBLIC_URL).respond(302, headers={"location": "https://hooks.example.com/other"})
    elsewhere = respx.post("https://hooks.example.com/other").respond(200)
    result = await make_client().send(_request())
    assert result.status == 302
    assert result.headers["location"] == "https://hooks.example.com/other"
    assert not elsewhere.called
    assert classify(result.attempt_result) is Outcome.RETRY


@respx.mock
async def test_response_body_is_cut_at_4_kib(make_client) -> None:
    respx.post(PUBLIC_URL).respond(200, content="é".encode() * 10_000)
    result = await make_client().send(_request())
    assert result.status == 200
    assert result.body_truncated
    assert len(result.body.encode()) <= RESPONSE_BODY_LIMIT
    assert result.body.startswith("é" * 2000)


@respx.mock
async def test_binary_body_is_stored_as_text_without_nul(make_client) -> None:
    respx.post(PUBLIC_URL).respond(200, content=b"\x00\xff\xfeok")
    result = await make_client().send(_request())
    assert "\x00" not in result.body and result.body.endswith("ok")
    assert not result.body_truncated


@pytest.mark.parametrize(
    ("raised", "kind"),
    [
        (httpx.ConnectTimeout("connect timed out"), TransportError.TIMEOUT),
        (httpx.ReadTimeout("read timed out"), TransportError.TIMEOUT),
        (httpx.ConnectError("connection refused"), TransportError.CONNECTION),
        (httpx.RemoteProtocolError("illegal status line"), TransportError.PROTOCOL),
    ],
)
@respx.mock
async def test_transport_errors_become_results(make_client, raised: Exception, kind) -> None:
    respx.post(PUBLIC_URL).mock(side_effect=raised)
    result = await make_client().send(_request())
    assert result.status is None
    assert result.error is kind
    assert result.error_message
    assert classify(result.attempt_result) is Outcome.RETRY


@respx.mock
async def test_whole_request_timeout(make_client) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    respx.post(PUBLIC_URL).mock(side_effect=slow)
    started = time.perf_counter()
    result = await make_client(timeout=0.2).send(_request())
    assert result.error is TransportError.TIMEOUT
    assert result.error_message == "no response within 0.2s"
    assert time.perf_counter() - started < 2


@respx.mock
async def test_unresolvable_host_is_dns(make_client) -> None:
    route = respx.post("https://nowhere.example.com/in").respond(200)
    result = await make_client().send(_request("https://nowhere.example.com/in"))
    assert result.error is TransportError.DNS
    assert "nowhere.example.com" in (result.error_message or "")
    assert not route.called


@pytest.mark.parametrize(
    "url",
    [
        "http://rebind.example.com/hook",  # resolves to 127.0.0.1
        "http://mixed.example.com/hook",  # one private address among public ones
        "http://169.254.169.254/latest/meta-data",  # IP literal: cloud metadata
        "http://[::1]:8080/hook",
    ],
)
@respx.mock
async def test_private_targets_are_blocked(make_client, url: str) -> None:
    route = respx.post(url).respond(200)
    result = await make_client(allow_private_targets=False).send(_request(url))
    assert result.status is None
    assert result.error is TransportError.BLOCKED
    assert "not a public address" in (result.error_message or "")
    assert not route.called


@respx.mock
async def test_private_targets_are_allowed_when_configured(make_client) -> None:
    route = respx.post("http://rebind.example.com/hook").respond(200)
    result = await make_client(allow_private_targets=True).send(_request("http://rebind.example.com/hook"))
    assert result.status == 200
    assert route.called


@pytest.mark.parametrize("url", ["http://hooks.example.com:abc/", "ftp://hooks.example.com/"])
async def test_invalid_url_is_a_failure_not_an_exception(make_client, url: str) -> None:
    result = await make_client(allow_private_targets=True).send(_request(url))
    assert result.status is None and result.error is TransportError.OTHER


async def test_check_url_target_at_endpoint_creation() -> None:
    assert await ssrf.check_url_target(PUBLIC_URL, allow_private=False) is None
    assert "loopback" in (await ssrf.check_url_target("http://rebind.example.com/", False) or "")
    assert "link-local" in (await ssrf.check_url_target("http://169.254.169.254/", False) or "")
    assert "does not resolve" in (await ssrf.check_url_target("http://nowhere.example.com/", False) or "")
    assert await ssrf.check_url_target("http://rebind.example.com/", allow_private=True) is None
    assert "scheme" in (await ssrf.check_url_target("ftp://hooks.example.com/", True) or "")


# --- a real receiver on 127.0.0.1, http1 and aiohttp transports ------------------------------

REAL_TRANSPORTS = pytest.mark.parametrize("transport", ["http1", "aiohttp"])


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[int, list[web.Request], list[bytes]]]:
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def ok(request: web.Request) -> web.Response:
        seen.append(request)
        bodies.append(await request.read())
        return web.Response(text="ok", headers={"set-cookie": "session=abc; Path=/"})

    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(256):  # 16 MiB if anyone read it all
            await response.write(b"x" * 65536)
        return response

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def headers(request: web.Request) -> web.Response:
        response = web.Response(text="ok")
        response.headers.add("x-note", "café")  # sent as UTF-8
        response.headers.add("x-multi", "a")
        response.headers.add("X-Multi", "b")
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/big", big)
    app.router.add_post("/redirect", redirect)
    app.router.add_post("/headers", headers)
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield port, seen, bodies
    await runner.cleanup()


@REAL_TRANSPORTS
async def test_real_transport_delivers_a_verifiable_webhook(transport, make_client, receiver) -> None:
    port, seen, bodies = receiver
    client = make_client(transport=transport, allow_private_targets=True)
    request = _request(f"http://127.0.0.1:{port}/ok")
    first = await client.send(request)
    second = await client.send(request)
    assert (first.status, first.body, first.error) == (200, "ok", None)
    assert second.status == 200
    assert bodies == [request.body, request.body]
    received = dict(seen[0].headers)
    std.Webhook(SECRET).verify(bodies[0], {k.lower(): v for k, v in received.items()})
    assert seen[0].headers["X-Tenant"] == "acme"
    assert seen[0].headers["hookrelay-event-type"] == "invoice.paid"
    assert "Cookie" not in seen[1].headers  # no state carried between deliveries


@REAL_TRANSPORTS
async def test_real_transport_resolver_blocks_rebinding(transport, make_client, receiver, fake_dns) -> None:
    port, seen, _ = receiver
    fake_dns["rebind.test"] = ["127.0.0.1"]
    url = f"http://rebind.test:{port}/ok"
    blocked = await make_client(transport=transport, allow_private_targets=False).send(_request(url))
    assert blocked.error is TransportError.BLOCKED
    assert "loopback" in (blocked.error_message or "")
    assert seen == []
    allowed = await make_client(transport=transport, allow_private_targets=True).send(_request(url))
    assert allowed.status == 200
    assert len(seen) == 1


@REAL_TRANSPORTS
async def test_real_transport_failures(transport, make_client, receiver) -> None:
    port, _, _ = receiver
    client = make_client(transport=transport, allow_private_targets=True, timeout=0.5)
    big = await client.send(_request(f"http://127.0.0.1:{port}/big"))
    assert big.status == 200 and big.body_truncated and len(big.body) == RESPONSE_BODY_LIMIT
    redirect = await client.send(_request(f"http://127.0.0.1:{port}/redirect"))
    assert redirect.status == 302
    slow = await client.send(_request(f"http://127.0.0.1:{port}/slow"))
    assert slow.error is TransportError.TIMEOUT
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    refused = await client.send(_request(f"http://127.0.0.1:{closed_port}/"))
    assert refused.error is TransportError.CONNECTION
    unknown = await client.send(_request(f"http://nowhere.test:{port}/ok"))
    assert unknown.error is TransportError.DNS


@REAL_TRANSPORTS
async def test_real_transport_reads_headers_as_httpx_does(transport, make_client, receiver) -> None:
    port, _, _ = receiver
    result = await make_client(transport=transport, allow_private_targets=True).send(
        _request(f"http://127.0.0.1:{port}/headers")
    )
    assert result.headers["x-note"] == "café"  # UTF-8, not Latin-1 mojibake
    assert result.headers["x-multi"] == "a, b"  # names lowercased, repeats joined
