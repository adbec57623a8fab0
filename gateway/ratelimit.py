"""Rate limits: fixed windows counted in memory (one process) or Redis (shared by replicas)."""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from redis.asyncio import Redis

log = logging.getLogger(__name__)

# One reconciliation in one command: each bucket's hits counted here are added (and its expiry
# renewed), or its total read; every total comes back in one array. A pipeline of INCRBY,
# EXPIRE and GET per bucket cost a gateway a fifth of its CPU under load, most of it parsing
# one reply per command.
# KEYS: the buckets. ARGV: per bucket, the hits to add and the seconds its window is kept.
_RECONCILE = """
local totals = {}
for i, bucket in ipairs(KEYS) do
  local hits = tonumber(ARGV[2 * i - 1])
  if hits > 0 then
    totals[i] = redis.call('INCRBY', bucket, hits)
    redis.call('EXPIRE', bucket, ARGV[2 * i])
  else
    totals[i] = tonumber(redis.call('GET', bucket) or '0')
  end
end
return totals
"""


@dataclass(frozen=True)
class Verdict:
    """Whether a request may pass, and what to tell the client about its budget."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int

    def headers(self) -> dict[str, str]:
        found = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            found["Retry-After"] = str(self.reset_after)
        return found


class Counter(ABC):
    """Counts hits on a key within the current window."""

    @abstractmethod
    async def hit(self, key: str, window_seconds: int, *, exact: bool = True) -> tuple[int, int]:
        """Adds a hit; returns the count in this window and the seconds until it resets.

        An inexact count may trail other replicas' hits by a moment, for a large budget
        where being off by a few requests matters less than a round trip per request.
        """

    async def close(self) -> None:
        return None

    async def check(
        self, key: str, limit: int, window_seconds: int, *, exact: bool = True
    ) -> Verdict:
        count, reset_after = await self.hit(key, window_seconds, exact=exact)
        return Verdict(count <= limit, limit, max(limit - count, 0), reset_after)


class MemoryCounter(Counter):
    """Counters in this process (the embedded mode, or a single gateway)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._counts: dict[str, int] = {}
        self._max_keys = max_keys
        self._window_keys: dict[str, int] = {}

    async def hit(self, key: str, window_seconds: int, *, exact: bool = True) -> tuple[int, int]:
        now = time.time()
        window = int(now // window_seconds)
        bucket = f"{key}:{window}"
        if bucket not in self._counts and len(self._counts) >= self._max_keys:
            self._evict(now)
        count = self._counts.get(bucket, 0) + 1
        self._counts[bucket] = count
        self._window_keys[bucket] = (window + 1) * window_seconds
        return count, max(int((window + 1) * window_seconds - now), 1)

    def _evict(self, now: float) -> None:
        expired = [k for k, ends in self._window_keys.items() if ends <= now]
        for key in expired or list(self._counts)[: len(self._counts) // 2]:
            self._counts.pop(key, None)
            self._window_keys.pop(key, None)


class RedisCounter(Counter):
    """Counters in Redis, so every gateway replica sees the same budget.

    Exact checks (the per-minute login and registration limits) go to Redis on every hit.
    The hourly budgets go to Redis on a key's first hit at this replica, and after that are
    counted here and reconciled every `flush_interval`: this replica's hits are added and
    every replica's totals read back. A replica thus sees the others' hits up to that much
    late, so a budget may be overshot by what the replicas serve in that moment, and no
    request but a key's first waits for Redis.
    """

    def __init__(
        self, url: str, prefix: str = "estuary:ratelimit:", *, flush_interval: float = 0.1
    ) -> None:
        self._redis = Redis.from_url(url)
        self._reconcile = self._redis.register_script(_RECONCILE)
        self._prefix = prefix
        self._flush_interval = flush_interval
        # Per bucket: hits not yet in Redis.
        self._unsent: dict[str, int] = {}
        # Per bucket: the total Redis last answered, the window's length and when it ends.
        self._known: dict[str, tuple[int, int, float]] = {}
        self._reconciler: asyncio.Task[None] | None = None

    async def hit(self, key: str, window_seconds: int, *, exact: bool = True) -> tuple[int, int]:
        now = time.time()
        ends = (int(now // window_seconds) + 1) * window_seconds
        bucket = f"{self._prefix}{key}:{int(now // window_seconds)}"
        if exact or bucket not in self._known:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(bucket)
                pipe.expire(bucket, window_seconds + 1)
                count, _ = await pipe.execute()
            if not exact:
                self._known[bucket] = (int(count), window_seconds, ends)
                self._reconcile_soon()
            return int(count), max(int(ends - now), 1)
        unsent = self._unsent.get(bucket, 0) + 1
        self._unsent[bucket] = unsent
        return self._known[bucket][0] + unsent, max(int(ends - now), 1)

    def _reconcile_soon(self) -> None:
        if self._reconciler is None or self._reconciler.done():
            self._reconciler = asyncio.create_task(self._reconcile_while_active())

    async def _reconcile_while_active(self) -> None:
        while self._known:
            await asyncio.sleep(self._flush_interval)
            await self.reconcile()

    async def reconcile(self) -> None:
        """Adds the hits counted here to Redis and reads back every replica's totals."""
        now = time.time()
        self._known = {b: v for b, v in self._known.items() if v[2] > now}
        batch, self._unsent = self._unsent, {}
        buckets = list(self._known)
        if not buckets:
            return
        arguments = []
        for bucket in buckets:
            arguments += [batch.get(bucket, 0), self._known[bucket][1] + 1]
        try:
            totals = await self._reconcile(keys=buckets, args=arguments)
        except Exception:
            log.warning("rate-limit counters not reconciled with Redis; trying again soon")
            for bucket, hits in batch.items():
                self._unsent[bucket] = self._unsent.get(bucket, 0) + hits
            return
        for bucket, total in zip(buckets, totals, strict=True):
            _, window_seconds, ends = self._known[bucket]
            self._known[bucket] = (int(total), window_seconds, ends)

    async def close(self) -> None:
        if self._reconciler is not None:
            self._reconciler.cancel()
        await self.reconcile()
        await self._redis.aclose()
