"""Measure webhook POSTs per second through :class:`DeliveryClient` for each transport.

ARCHITECTURE rule 4 says the transport under httpx is chosen by measurement; this is the
measurement, kept runnable so the choice can be re-checked on new versions or machines::

    uv run python -m hookrelay.delivery.bench_transport [--requests 3000] [--concurrency 8,64,256]

A minimal aiohttp receiver runs in a child process on 127.0.0.1 (its own interpreter, so the
client's event loop is not also serving); every run is bounded (``--requests`` POSTs per
row) and talks to loopback only. Rows: each transport at each in-flight concurrency with
the default limits (64 per host), the http1 and aiohttp transports with the per-host cap
raised to the concurrency, and raw aiohttp (no hookrelay) as the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from hookrelay import __version__
from hookrelay.delivery.client import DeliveryClient, TransportName
from hookrelay.delivery.request import WebhookRequest, build_webhook_request
from hookrelay.domain.signing import generate_secret

WARMUP_REQUESTS = 200


# --- the receiver (child process) -------------------------------------------------------


async def _receive(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(text="ok")


async def _serve() -> None:
    app = web.Application()
    app.router.add_post("/{tail:.*}", _receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(port, flush=True)
    # Serve until the parent closes our stdin (or terminates us).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


def _start_receiver() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hookrelay.delivery.bench_transport", "--receiver"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.kill()
        raise RuntimeError(f"the receiver did not start (said {line!r})")
    return proc, int(line)


# --- the load (this process) --------------------------------------------------------------


async def _drive(send: Callable[[], Awaitable[bool]], total: int, concurrency: int) -> dict[str, float]:
    """Run ``total`` sends with ``concurrency`` in flight; return throughput and latency."""
    latencies: list[float] = []
    failures = 0
    remaining = total

    async def worker() -> None:
        nonlocal remaining, failures
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            if not await send():
                failures += 1
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": total / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "failures": failures,
    }


async def _bench_client(
    request: WebhookRequest, transport: TransportName, concurrency: int, per_host: int, total: int
) -> dict[str, float]:
    client = DeliveryClient(
        timeout=30.0,
        allow_private_targets=True,  # loopback receiver
        transport=transport,
        max_connections=max(256, concurrency),
        max_per_host=per_host,
    )

    async def send() -> bool:
        return (await client.send(request)).status == 200

    async with client:
        await _drive(send, WARMUP_REQUESTS, min(concurrency, WARMUP_REQUESTS))
        return await _drive(send, total, concurrency)


async def _bench_raw_aiohttp(request: WebhookRequest, concurrency: int, total: int) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=max(256, concurrency), limit_per_host=concurrency)
    headers = request.headers_dict()
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send() -> bool:
            async with session.post(request.url, data=request.body, headers=headers) as response:
                await response.read()
                return response.status == 200

        await _drive(send, WARMUP_REQUESTS, min(concurrency, WARMUP_REQUESTS))
        return await _drive(send, total, concurrency)


def _request(port: int) -> WebhookRequest:
    return build_webhook_request(
        url=f"http://127.0.0.1:{port}/hook",
        event_id="evt_bench",
        event_type="bench.ping",
        event_created_at="2026-01-01T00:00:00Z",
        data={"order": 42, "items": ["a", "b", "c"], "note": "x" * 200},
        delivery_id="dlv_bench",
        attempt=1,
        secrets=[generate_secret()],
        timestamp=int(time.time()),
        custom_headers=None,
        version=__version__,
    )


async def _run(total: int, concurrencies: list[int]) -> None:
    proc, port = _start_receiver()
    try:
        request = _request(port)
        print(f"{total} POSTs per row to a local aiohttp receiver on 127.0.0.1:{port}\n")
        print(f"{'client':<32}{'in flight':>10}{'POST/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'failed':>8}")
        for concurrency in concurrencies:
            rows: list[tuple[str, Awaitable[dict[str, float]]]] = [
                ("http1 (64/host)", _bench_client(request, "http1", concurrency, 64, total)),
                ("httpx + httpcore", _bench_client(request, "httpcore", concurrency, 64, total)),
                ("aiohttp (64/host)", _bench_client(request, "aiohttp", concurrency, 64, total)),
            ]
            if concurrency > 64:
                for transport in ("http1", "aiohttp"):
                    label = f"{transport} ({concurrency}/host)"
                    rows.append((label, _bench_client(request, transport, concurrency, concurrency, total)))
            rows.append(("raw aiohttp (reference)", _bench_raw_aiohttp(request, concurrency, total)))
            for label, run in rows:
                r = await run
                print(
                    f"{label:<32}{concurrency:>10}{r['rps']:>10.0f}{r['p50_ms']:>10.1f}"
                    f"{r['p99_ms']:>10.1f}{int(r['failures']):>8}",
                    flush=True,
                )
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="POSTs per row (bounded)")
    parser.add_argument("--concurrency", default="8,64,256", help="comma list of in-flight counts")
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        asyncio.run(_serve())
        return
    concurrencies = [int(part) for part in args.concurrency.split(",") if part.strip()]
    asyncio.run(_run(max(1, min(args.requests, 100_000)), concurrencies))


if __name__ == "__main__":
    main()
