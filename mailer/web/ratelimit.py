"""An in-process sliding-window rate limiter (one web process; see the note below).

Each key (an IP address, or a hash of an e-mail address) keeps the times of its recent
hits; a hit is allowed while fewer than ``limit`` fall inside the last ``window`` seconds.
State lives in this process only: with several web processes each has its own counts, so
the effective limit is multiplied by their number. That is acceptable for the one-process
default; a shared store (the database or Redis) is the step for more.
"""

from __future__ import annotations

import threading
from collections import deque


class SlidingWindowLimiter:
    """At most ``limit`` hits per key within any ``window`` seconds."""

    def __init__(self, limit: int, window: float, *, max_keys: int = 100_000) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float) -> bool:
        """Record a hit for ``key`` at ``now`` (monotonic seconds); False if over the limit.

        A refused hit is not recorded, so a client that keeps trying is let in again as
        soon as its oldest counted hit leaves the window.
        """
        with self._lock:
            q = self._hits.get(key)
            if q is None:
                if len(self._hits) >= self.max_keys:
                    self._prune(now)
                q = self._hits[key] = deque()
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            return True

    def refund(self, key: str, at: float) -> None:
        """Forget the hit recorded for ``key`` at ``at`` (e.g. a login that succeeded)."""
        with self._lock:
            q = self._hits.get(key)
            if q is not None and at in q:
                q.remove(at)

    def _prune(self, now: float) -> None:
        # Forget keys with no hit inside the window; if every key is busy (a flood of
        # distinct keys), forget the oldest half rather than grow without bound.
        cutoff = now - self.window
        for key in [k for k, q in self._hits.items() if not q or q[-1] <= cutoff]:
            del self._hits[key]
        if len(self._hits) >= self.max_keys:
            oldest = sorted(self._hits, key=lambda k: self._hits[k][-1])
            for key in oldest[: len(oldest) // 2]:
                del self._hits[key]
