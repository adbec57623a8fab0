"""Rate limits: fixed windows counted in memory (one process) or Redis (shared by replicas)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

from redis.asyncio import Redis


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
    async def hit(self, key: str, window_seconds: int) -> tuple[int, int]:
        """Adds a hit; returns the count in this window and the seconds until it resets."""

    async def close(self) -> None:
        return None

    async def check(self, key: str, limit: int, window_seconds: int) -> Verdict:
        count, reset_after = await self.hit(key, window_seconds)
        return Verdict(count <= limit, limit, max(limit - count, 0), reset_after)


class MemoryCounter(Counter):
    """Counters in this process (the embedded mode, or a single gateway)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._counts: dict[str, int] = {}
        self._max_keys = max_keys
        self._window_keys: dict[str, int] = {}

    async def hit(self, key: str, window_seconds: int) -> tuple[int, int]:
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
    """Counters in Redis, so every gateway replica sees the same budget."""

    def __init__(self, url: str, prefix: str = "estuary:ratelimit:") -> None:
        self._redis = Redis.from_url(url)
        self._prefix = prefix

    async def hit(self, key: str, window_seconds: int) -> tuple[int, int]:
        now = time.time()
        window = int(now // window_seconds)
        bucket = f"{self._prefix}{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(bucket)
            pipe.expire(bucket, window_seconds + 1)
            count, _ = await pipe.execute()
        return int(count), max(int((window + 1) * window_seconds - now), 1)

    async def close(self) -> None:
        await self._redis.aclose()
