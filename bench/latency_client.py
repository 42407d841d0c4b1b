"""Open-loop load generator for the first-attempt latency scenario, in its own process (so
nothing else in the benchmark's process can delay its clock readings).

Sends ``POST /v1/events`` at fixed times (``--rate`` per second for ``--seconds``; a slow
answer never delays the next send) and writes one JSON list of records
``{"i", "sent", "answered", "status", "id", "error"}`` to ``--output``.

    python -m bench.latency_client --url http://127.0.0.1:N/v1/events --key hr_… \
        --rate 200 --seconds 63 --output FILE
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp

from bench.backlog import EVENT_TYPE, sample_data


async def steady(url: str, key: str, rate: int, seconds: float) -> list[dict]:
    body = json.dumps({"type": EVENT_TYPE, "data": sample_data(7)}).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    records: list[dict] = []
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512), timeout=timeout) as session:

        async def one(index: int) -> None:
            record = {"i": index, "sent": time.time(), "answered": None, "status": None, "id": None, "error": None}
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    payload = await response.read()
                    record["answered"] = time.time()
                    record["status"] = response.status
                    if response.status == 202:
                        record["id"] = json.loads(payload)["id"]
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                record["error"] = type(exc).__name__
            records.append(record)

        loop = asyncio.get_running_loop()
        origin = loop.time() + 0.05
        tasks = []
        for index in range(int(rate * seconds)):
            delay = origin + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index)))
        await asyncio.gather(*tasks)
    return sorted(records, key=lambda r: r["i"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--rate", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    if not args.url.startswith("http://127.0.0.1:"):
        raise SystemExit("load goes to 127.0.0.1 only")
    records = asyncio.run(steady(args.url, args.key, args.rate, args.seconds))
    with open(args.output, "w") as handle:
        json.dump(records, handle)


if __name__ == "__main__":
    main()
