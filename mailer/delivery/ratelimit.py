"""Token buckets for the per-server rate limits (messages per second and per hour)."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """``rate`` tokens per second, up to ``burst`` saved; ``acquire`` waits for one."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.tokens = self.burst
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self) -> float:
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


class RateLimiter:
    """Both limits of one SMTP server; 0 means unlimited."""

    def __init__(self, per_second: float = 0.0, per_hour: int = 0) -> None:
        self.buckets = []
        if per_second > 0:
            # A burst of one second's worth keeps the rate smooth at the relay.
            self.buckets.append(TokenBucket(per_second, per_second))
        if per_hour > 0:
            self.buckets.append(TokenBucket(per_hour / 3600.0, per_hour))
        self._lock = asyncio.Lock()

    @property
    def unlimited(self) -> bool:
        return not self.buckets

    async def acquire(self) -> None:
        if not self.buckets:
            return
        async with self._lock:  # one waiter at a time keeps the order fair
            while True:
                wait = max(b.wait_time() for b in self.buckets)
                if wait <= 0:
                    for b in self.buckets:
                        b.take()
                    return
                await asyncio.sleep(wait)
