"""Per-endpoint rate limits shared by every worker: a GCRA ("leaky bucket as a meter").

Each endpoint has a theoretical arrival time (TAT). A send is allowed when TAT <= now, and then
moves TAT one emission interval (1/rate) ahead; otherwise the caller learns how long to wait.
With no burst allowance, granted sends are at least one interval apart, so a receiver never sees
more than ``rate`` requests in any one-second window (plus the one on its edge). Excess
deliveries wait; they never fail and never spend an attempt.

Production keeps TAT in Redis and decides in one Lua script using Redis's clock, so every worker
process shares one limiter; ``hookrelay dev`` keeps it in memory.
"""

from __future__ import annotations

import threading
import time

import redis.asyncio as aioredis

KEY_PREFIX = "hookrelay:ratelimit:"

_GCRA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat > now then
  return tat - now
end
redis.call('SET', KEYS[1], now + interval, 'PX', math.ceil(interval / 1000) + 1000)
return 0
"""


def interval_us(rate_per_second: int) -> int:
    return max(1, int(1_000_000 / rate_per_second))


class RedisRateLimiter:
    def __init__(self, redis_url: str) -> None:
        self._client = aioredis.Redis.from_url(redis_url)
        self._script = self._client.register_script(_GCRA)

    async def acquire(self, endpoint_id: str, rate_per_second: int) -> float:
        """0 if a request may go now (and it is counted); else seconds to wait before asking again."""
        wait_us = await self._script(keys=[KEY_PREFIX + endpoint_id], args=[interval_us(rate_per_second)])
        return int(wait_us) / 1_000_000

    async def aclose(self) -> None:
        await self._client.aclose()


class InProcessRateLimiter:
    """The same rule for ``hookrelay dev``, where every worker thread shares one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[str, int] = {}

    async def acquire(self, endpoint_id: str, rate_per_second: int) -> float:
        now = time.monotonic_ns() // 1000
        with self._lock:
            tat = self._tat.get(endpoint_id, 0)
            if tat > now:
                return (tat - now) / 1_000_000
            self._tat[endpoint_id] = now + interval_us(rate_per_second)
            return 0.0

    async def aclose(self) -> None:
        return None


shared_in_process_limiter = InProcessRateLimiter()
