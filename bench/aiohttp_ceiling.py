"""The drain ceiling: raw aiohttp POSTing the backlog's bodies to the receiver, nothing else.

No database, no broker, no signing: one ``aiohttp.ClientSession`` and ``--concurrency``
requests in flight. Runs in its own process (the receiver is another one), on the standard
asyncio loop like hookrelay's worker. Reads a JSON file ``[[url, webhook_id, body], ...]``
and prints one JSON line: ``{"ok", "failed", "seconds", "rate"}``.

    python -m bench.aiohttp_ceiling --input FILE --concurrency 64 [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


async def drain(items: list[list[str]], concurrency: int) -> dict:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    position = 0
    ok = failed = 0

    async with aiohttp.ClientSession(connector=connector) as session:

        async def one_worker() -> None:
            nonlocal position, ok, failed
            while position < len(items):
                url, webhook_id, body = items[position]
                position += 1
                try:
                    async with session.post(url, data=body.encode(), headers={
                        "content-type": "application/json", "webhook-id": webhook_id,
                    }) as response:
                        await response.read()
                        if 200 <= response.status < 300:
                            ok += 1
                        else:
                            failed += 1
                except aiohttp.ClientError:
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {"ok": ok, "failed": failed, "seconds": seconds, "rate": ok / seconds if seconds else None,
            "concurrency": concurrency}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    with open(args.input) as handle:
        items = json.load(handle)
    if args.limit:
        items = items[: args.limit]
    print(json.dumps(asyncio.run(drain(items, args.concurrency))), flush=True)


if __name__ == "__main__":
    main()
