"""Admission control for the public sign-up pages (issue 13: the form, its POST and the
thanks page): a bounded number at work at once, the rest queued in arrival order.

Every sign-up at work holds a threadpool thread and a database connection, and its Python
competes for the process's one GIL with everything else ``mailer serve`` does. With 200 of
them at once the one-click unsubscribe (which must take effect at once, RFC 8058) and
every other page waited in that crowd for the GIL after each of its statements. Here at
most ``limit`` sign-ups are at work at once; the others wait on the event loop (a future
each, no thread, no connection) and are let in first come, first served. The queue is
bounded too: past ``queue`` waiting, or after ``wait`` seconds in it, a sign-up is answered
503 with ``Retry-After`` and nothing is changed, so a flood costs the server a queue entry
per request, not a thread. One ``Admission`` per application (one process).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from mailer.errors import DatabaseBusy

#: Sign-ups at work at once (``MAILER_SIGNUP_CONCURRENCY``'s default). Measured with
#: benchmarks/load.py on PostgreSQL (README, Hardening), 200 sign-ups at once: at 4 the
#: one-click's p99 was under 200 ms in 7 of 8 alternated runs, at 20 in 0 of 8: 20 at work
#: held most of the pool's connections and took turns at the GIL, so the one-click waited
#: for a thread, a connection and the GIL after each statement. Each sign-up waits longer
#: for its turn (p50 ~40 % slower); the 200 were through in about the same time.
SIGNUP_CONCURRENCY = 4
#: Sign-ups that may wait for their turn, and how long one waits before a 503.
SIGNUP_QUEUE = 1000
SIGNUP_WAIT = 30.0


class Overloaded(DatabaseBusy):
    """Too many sign-ups waiting, or one waited too long: nothing was changed; 503 with
    Retry-After (the same answer as a database busy past its timeout)."""


class Admission:
    """At most ``limit`` holders of a turn at once; the rest wait in arrival order."""

    def __init__(self, limit: int, *, queue: int = SIGNUP_QUEUE,
                 wait: float = SIGNUP_WAIT) -> None:
        if limit < 1:
            raise ValueError("an admission limit is at least 1")
        self.limit = limit
        self.queue = queue
        self.wait = wait
        self._active = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @property
    def active(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a turn (``Overloaded`` when the queue is full or the wait too long),
        hold it inside, and hand it to the first in the queue after."""
        await self._enter()
        try:
            yield
        finally:
            self._leave()

    async def _enter(self) -> None:
        if self._active < self.limit and not self._waiting:
            self._active += 1
            return
        if len(self._waiting) >= self.queue:
            raise Overloaded(f"{len(self._waiting)} sign-ups are waiting already")
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(mine)
        try:
            async with asyncio.timeout(self.wait):
                await asyncio.shield(mine)
        except BaseException as exc:
            if mine.done() and not mine.cancelled():
                # The turn was handed over just as the wait ended: pass it on.
                self._leave()
            else:
                mine.cancel()
                self._waiting.remove(mine)
            if isinstance(exc, TimeoutError):
                raise Overloaded(f"waited {self.wait:.0f} s for a turn") from None
            raise

    def _leave(self) -> None:
        # The turn goes straight to the first waiter (``_active`` unchanged), so a request
        # arriving now cannot pass the queue.
        while self._waiting:
            first = self._waiting.popleft()
            if not first.done():
                first.set_result(None)
                return
        self._active -= 1
