"""Per-server rate limits (messages per second and per hour), shared across processes.

The buckets themselves live in a ``BucketStore``: in the database for the worker
(``store.buckets``: one row per server, every worker process takes from the same row)
or in memory for a lone pool (``mailer smtp test``, tests). A ``RateLimiter`` takes
tokens in chunks — the worker reserves as many as it is about to claim, one statement
per batch — and keeps them as local ``credit`` that each ``acquire`` spends; tokens it
did not spend go back with ``release`` (at a stop, or when the outbox runs dry).
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from mailer.store.buckets import Limits, refill, wait_for_one


class BucketStore(Protocol):
    """Where the token buckets live."""

    async def take(self, key: str, want: int, limits: Limits) -> tuple[int, float]:
        """Take up to ``want`` tokens: (how many, seconds until the next one)."""
        ...

    async def give_back(self, key: str, count: int, limits: Limits) -> None:
        ...


class MemoryBuckets:
    """Buckets in this process only (a pool on its own, tests)."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float, float]] = {}

    async def take(self, key: str, want: int, limits: Limits) -> tuple[int, float]:
        if limits.unlimited:
            return want, 0.0
        now = time.monotonic()
        ts, th, stamp = self._state.get(key, (limits.burst_second, limits.burst_hour, now))
        ts = refill(ts, limits.burst_second, limits.per_second, now - stamp)
        th = refill(th, limits.burst_hour, limits.per_hour / 3600.0, now - stamp)
        granted = max(0, min(want, int(min(ts, th) + 1e-9)))
        ts, th = ts - granted, th - granted
        self._state[key] = (ts, th, now)
        return granted, wait_for_one(ts, th, limits)

    async def give_back(self, key: str, count: int, limits: Limits) -> None:
        if key in self._state and count > 0:
            ts, th, stamp = self._state[key]
            self._state[key] = (min(limits.burst_second, ts + count),
                                min(limits.burst_hour, th + count), stamp)


class RateLimiter:
    """Both limits of one SMTP server; 0 means unlimited."""

    def __init__(self, per_second: float = 0.0, per_hour: int = 0, *, key: str = "default",
                 store: BucketStore | None = None) -> None:
        self.limits = Limits(per_second, per_hour)
        self.key = key
        self.store: BucketStore = store or MemoryBuckets()
        self.credit = 0  # tokens taken from the store, not yet spent
        self.wait_hint = 0.0  # seconds until the store had a next token, at the last take
        self._lock = asyncio.Lock()

    @property
    def unlimited(self) -> bool:
        return self.limits.unlimited

    async def reserve(self, want: int) -> int:
        """Hold up to ``want`` tokens as credit (one store call); how many are held."""
        if self.unlimited:
            return want
        if self.credit < want:
            got, self.wait_hint = await self.store.take(self.key, want - self.credit,
                                                        self.limits)
            self.credit += got
        return min(self.credit, want)

    async def acquire(self) -> None:
        """Wait for one token (from credit, else from the store)."""
        if self.unlimited:
            return
        async with self._lock:  # one waiter at a time keeps the order fair
            while self.credit <= 0:
                got, self.wait_hint = await self.store.take(self.key, 1, self.limits)
                self.credit += got
                if not got:
                    await asyncio.sleep(max(self.wait_hint, 0.001))
            self.credit -= 1

    async def release(self) -> None:
        """Give unspent credit back, so other processes can use it."""
        if self.credit > 0 and not self.unlimited:
            count, self.credit = self.credit, 0
            await self.store.give_back(self.key, count, self.limits)
