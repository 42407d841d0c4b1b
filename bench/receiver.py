"""The one webhook receiver every contender posts to (its own process, aiohttp on uvloop).

Any POST outside ``/_bench/`` answers ``204`` and records its arrival time (``time.time()`` when
the handler starts) under ``"<path> <webhook-id>"``; repeated keys are counted as duplicates.
Control routes (same port, loopback only):

    GET  /_bench/stats      {"count", "unique", "duplicates", "first", "last"}
    GET  /_bench/arrivals   {"<path> <webhook-id>": first arrival time, ...}
    POST /_bench/reset      forget everything

Run: ``python -m bench.receiver --port N`` (prints ``ready`` once listening).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web

arrivals: dict[str, float] = {}
state = {"count": 0, "duplicates": 0, "first": None, "last": None}


async def receive(request: web.Request) -> web.Response:
    now = time.time()
    await request.read()
    key = f"{request.path} {request.headers.get('webhook-id', '')}"
    state["count"] += 1
    if key in arrivals:
        state["duplicates"] += 1
    else:
        arrivals[key] = now
    if state["first"] is None:
        state["first"] = now
    state["last"] = now
    return web.Response(status=204)


async def stats(request: web.Request) -> web.Response:
    return web.json_response({**state, "unique": len(arrivals)})


async def all_arrivals(request: web.Request) -> web.Response:
    return web.json_response(arrivals)


async def reset(request: web.Request) -> web.Response:
    arrivals.clear()
    state.update(count=0, duplicates=0, first=None, last=None)
    return web.json_response({"ok": True})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_get("/_bench/stats", stats)
    app.router.add_get("/_bench/arrivals", all_arrivals)
    app.router.add_post("/_bench/reset", reset)
    app.router.add_post("/{tail:.*}", receive)
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, backlog=2048, print=None)


if __name__ == "__main__":
    main()
