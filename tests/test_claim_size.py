"""The worker's claims grow while the senders empty them fast and shrink when they last
long (``CLAIM_SECONDS``): the claim's fixed cost (about 13 ms of CPU) is spread over many
rows at high rates, and claimed rows, which a pause or an unsubscribe no longer reaches,
wait in memory about half a second at most at any rate.

The claims' clock is the worker's own (``_monotonic``), set here, so no test depends on
how fast the machine is."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import Engine

from mailer.config import Settings
from mailer.delivery import worker as worker_module
from mailer.delivery.worker import CLAIM_MAX, CLAIM_SECONDS, Worker
from mailer.services.mailings import plan_mailing
from mailer.store.db import transaction
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.smtp_server import SmtpServer


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _worker(engine: Engine, settings: Settings, clock: Clock) -> Worker:
    w = Worker(engine, settings, concurrency=4)
    w._monotonic = clock
    return w


def test_full_claims_that_go_fast_double_up_to_the_cap(engine: Engine,
                                                        settings: Settings) -> None:
    clock = Clock()
    w = _worker(engine, settings, clock)
    assert w.batch_size == 32
    assert w._next_claim_size() == 32  # the first claim: the batch size
    sizes = []
    for _ in range(8):
        w._last_claim = (clock.t, True)  # a full claim ...
        clock.t += CLAIM_SECONDS / 4  # ... emptied in an eighth of a second
        sizes.append(w._next_claim_size())
    assert sizes == [64, 128, 256, 512, 1024, CLAIM_MAX, CLAIM_MAX, CLAIM_MAX]
    # The queue is refilled when a quarter of a claim is left (never below 2 per sender).
    assert w._low == CLAIM_MAX // 4


def test_slow_claims_shrink_and_a_short_one_starts_over(engine: Engine,
                                                        settings: Settings) -> None:
    clock = Clock()
    w = _worker(engine, settings, clock)
    w._claim_size = 512
    w._last_claim = (clock.t, True)
    clock.t += CLAIM_SECONDS * 3  # a full claim lasted 1.5 s (a rate limit, a slow server)
    assert w._next_claim_size() == 256
    w._last_claim = (clock.t, True)
    clock.t += CLAIM_SECONDS  # within the band: kept
    assert w._next_claim_size() == 256
    w._last_claim = (clock.t, False)  # fewer rows were due than asked: start small again
    clock.t += 0.01
    assert w._next_claim_size() == 32
    assert w._low == 16  # max(2 x 4 connections, 32 // 2)
    for _ in range(10):  # never below the batch size
        w._last_claim = (clock.t, True)
        clock.t += 60
        assert w._next_claim_size() == 32


def test_a_fast_mailing_is_claimed_in_growing_claims_each_row_sent_once(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    """1,200 recipients over real SMTP; the claims' clock stands still (every claim looks
    emptied at once), so they keep doubling: every row is claimed and sent once."""
    add_subscribers(engine, 1200)
    with transaction(engine) as s:
        plan_mailing(s, synthetic_rendered(4_000), kind="newsletter",
                     now=datetime.now(UTC), list_slugs=["medborgardialog"])
    asked: list[int] = []

    async def run() -> worker_module.DeliveryReport:
        async with Worker(engine, settings, concurrency=4) as w:
            w._monotonic = Clock()
            claim = w._claim

            def counting(limit: int):  # type: ignore[no-untyped-def]
                asked.append(limit)
                return claim(limit)
            w._claim = counting  # type: ignore[method-assign]
            return await w.drain()

    report = asyncio.run(run())
    assert report.sent == 1200 and report.failed == 0
    rcpts = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert len(rcpts) == 1200 and max(rcpts.values()) == 1
    # 32 + 64 + 128 + 256 + 512 rows, then the last 208 in a claim of 1,024 (CLAIM_MAX)
    assert asked[:6] == [32, 64, 128, 256, 512, CLAIM_MAX]
