"""Cost of the shared rate limit: one bucket take per claimed batch, against the claim.

    python benchmarks/ratelimit.py [--batch 32] [--seconds 3] [--database-url URL]

The worker takes tokens for a whole batch in one short transaction before it claims
the batch (``store.buckets.take``), so the limit costs one extra transaction per batch.
Measured in one run on the same database (SQLite file by default; PostgreSQL with
``--database-url``, where a database of its own is created and dropped): transactions per second of
  1. take: ``buckets.take`` of ``--batch`` tokens from a bucket that never runs dry;
  2. claim (reference): ``outbox.claim_batch`` of ``--batch`` rows plus recording their
     outcomes — what the worker does per batch anyway.
Prints both rates, the messages per second the take alone allows (rate × batch) and
its cost relative to the claim.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.orm import Session  # noqa: E402

from mailer.store import buckets, outbox  # noqa: E402
from mailer.store.db import make_engine, transaction, upgrade  # noqa: E402
from mailer.store.models import OutboxStatus  # noqa: E402


@contextlib.contextmanager
def own_database(server_url: str, tmp: str) -> Iterator[str]:
    """A fresh SQLite file, or a database of our own on the PostgreSQL server (dropped)."""
    if not server_url:
        yield f"sqlite:///{tmp}/bench.db"
        return
    import psycopg

    admin = server_url.replace("postgresql+psycopg", "postgresql")
    name = f"mailer_bench_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--database-url", default="")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, own_database(a.database_url, tmp) as url:
        engine = make_engine(url)
        upgrade(engine)
        from mailer.render.types import RenderedMailing
        from mailer.services.mailings import plan_mailing
        from tests.delivery_support import add_subscribers

        n = 20_000
        add_subscribers(engine, n, slug="bench", domain="bench.test")
        with transaction(engine) as s:
            plan_mailing(s, RenderedMailing(subject="x", html="<p>x</p>", text="x"),
                         kind="newsletter", now=datetime.now(UTC), list_slugs=["bench"])
        limits = buckets.Limits(per_second=1e9)  # never runs dry: measures the statement

        def rate(step: object) -> float:
            done, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < a.seconds:
                with Session(engine) as s, s.begin():
                    step(s)  # type: ignore[operator]
                done += 1
            return done / (time.perf_counter() - t0)

        take = rate(lambda s: buckets.take(s, "bench:25", a.batch, limits, time.time()))

        def claim(s: Session) -> None:
            now = datetime.now(UTC)
            rows = outbox.claim_batch(s, "bench", a.batch, now)
            outbox.record_outcomes(s, "bench", [
                outbox.Record(c.id, OutboxStatus.sent, "250 OK", "", now, now) for c in rows],
                now)
        ref = rate(claim)
        engine.dispose()
    print(f"database: {url.split(':', 1)[0]}, batch {a.batch}")
    print(f"take  : {take:8.0f} transactions/s = {take * a.batch:9.0f} msg/s of limit capacity")
    print(f"claim : {ref:8.0f} transactions/s = {ref * a.batch:9.0f} msg/s (reference)")
    print(f"a take costs {100 * ref / take:.0f} % of the time of a claim (ratio {ref / take:.3f})")


if __name__ == "__main__":
    main()
