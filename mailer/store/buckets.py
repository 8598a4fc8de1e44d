"""Rate-limit buckets shared by every worker process: one row per SMTP server.

A process takes several tokens at once (what it is about to claim), so the row is
touched once per claimed batch, not once per message. Each take runs in the caller's
short transaction: ``BEGIN IMMEDIATE`` on SQLite and ``SELECT … FOR UPDATE`` on
PostgreSQL make the read-refill-write atomic across processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailer.store.models import SmtpBucket


@dataclass(frozen=True, slots=True)
class Limits:
    """A server's limits; 0 means unlimited."""

    per_second: float = 0.0
    per_hour: int = 0

    @property
    def unlimited(self) -> bool:
        return self.per_second <= 0 and self.per_hour <= 0

    @property
    def burst_second(self) -> float:
        # A burst of one second's worth keeps the rate smooth at the relay.
        return max(self.per_second, 1.0) if self.per_second > 0 else math.inf

    @property
    def burst_hour(self) -> float:
        return float(self.per_hour) if self.per_hour > 0 else math.inf


def refill(tokens: float, burst: float, rate: float, elapsed: float) -> float:
    """Tokens after ``elapsed`` seconds at ``rate`` per second, at most ``burst``."""
    if math.isinf(burst):
        return math.inf
    return min(burst, tokens + max(elapsed, 0.0) * rate)


def wait_for_one(tokens_second: float, tokens_hour: float, limits: Limits) -> float:
    """Seconds until one more token is there in both buckets."""
    wait = 0.0
    if limits.per_second > 0 and tokens_second < 1:
        wait = max(wait, (1 - tokens_second) / limits.per_second)
    if limits.per_hour > 0 and tokens_hour < 1:
        wait = max(wait, (1 - tokens_hour) / (limits.per_hour / 3600.0))
    return wait


def _stored(value: float) -> float:
    return 0.0 if math.isinf(value) else value


def _row(session: Session, key: str, limits: Limits, now: float) -> SmtpBucket:
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
              else sqlite.insert)(SmtpBucket)
    session.execute(insert.values(
        key=key, tokens_second=_stored(limits.burst_second),
        tokens_hour=_stored(limits.burst_hour), stamp=now,
    ).on_conflict_do_nothing(index_elements=["key"]))
    q = select(SmtpBucket).where(SmtpBucket.key == key)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    return session.execute(q.execution_options(populate_existing=True)).scalar_one()


def take(session: Session, key: str, want: int, limits: Limits,
         now: float) -> tuple[int, float]:
    """Take up to ``want`` tokens of server ``key``: (how many, seconds until the next one)."""
    if limits.unlimited:
        return want, 0.0
    row = _row(session, key, limits, now)
    elapsed = now - row.stamp
    ts = refill(row.tokens_second, limits.burst_second, limits.per_second, elapsed)
    th = refill(row.tokens_hour, limits.burst_hour, limits.per_hour / 3600.0, elapsed)
    granted = max(0, min(want, math.floor(min(ts, th) + 1e-9)))
    ts, th = ts - granted, th - granted
    session.execute(update(SmtpBucket).where(SmtpBucket.key == key).values(
        tokens_second=_stored(ts), tokens_hour=_stored(th), stamp=max(row.stamp, now)))
    return granted, wait_for_one(ts, th, limits)


def give_back(session: Session, key: str, count: int, limits: Limits, now: float) -> None:
    """Return ``count`` tokens taken but not used (claims released at a stop)."""
    if limits.unlimited or count <= 0:
        return
    row = _row(session, key, limits, now)
    session.execute(update(SmtpBucket).where(SmtpBucket.key == key).values(
        tokens_second=_stored(min(limits.burst_second, row.tokens_second + count)),
        tokens_hour=_stored(min(limits.burst_hour, row.tokens_hour + count))))
