"""The dashboard's timeline is counted in SQL; it must equal counting every row in Python."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from mailer.services.mailings import TimelinePoint, timeline
from mailer.store.db import transaction
from mailer.store.models import Mailing, MailingKind, OutboxRow, OutboxStatus

START = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
GROUP = {OutboxStatus.sent: "sent", OutboxStatus.failed: "failed",
         OutboxStatus.unknown: "failed", OutboxStatus.skipped: "skipped"}


def reference(start: datetime, rows: list[tuple[OutboxStatus, datetime]],
              buckets: int) -> list[TimelinePoint]:
    """Every row read and counted one by one (what the dashboard did before)."""
    finals = sorted((when, GROUP[s]) for s, when in rows if s in GROUP)
    end = max([start, *(w for w, _ in finals)])
    span = (end - start) / max(buckets - 1, 1)
    points, i = [], 0
    running = {"sent": 0, "failed": 0, "skipped": 0}
    for b in range(buckets):
        at = end if b == buckets - 1 else start + span * b
        while i < len(finals) and finals[i][0] <= at:
            running[finals[i][1]] += 1
            i += 1
        points.append(TimelinePoint(at, {**running, "queued": len(rows) - sum(running.values())}))
    return points


def test_timeline_in_sql_equals_counting_rows(engine: Engine) -> None:
    rng = random.Random(14)
    statuses = list(OutboxStatus)
    rows: list[tuple[OutboxStatus, datetime]] = []
    with transaction(engine) as s:
        mailing = Mailing(kind=MailingKind.newsletter, subject="Nyhetsbrev", html="", text="",
                          started_at=START)
        s.add(mailing)
        s.flush()
        mailing_id = mailing.id
        empty = Mailing(kind=MailingKind.newsletter, subject="Tomt", html="", text="")
        s.add(empty)
        s.flush()
        empty_id = empty.id
        for i in range(400):
            status = rng.choice(statuses)
            # Whole seconds and a few rows exactly at a moment of the chart or at the start.
            when = START + timedelta(seconds=rng.choice([0, 1800, rng.randrange(-60, 3600)]))
            sent = when if status is OutboxStatus.sent else None
            s.add(OutboxRow(mailing_id=mailing_id, email=f"p{i}@example.org",
                            email_key=f"p{i}@example.org", status=status, sent_at=sent,
                            updated_at=when + timedelta(seconds=5) if sent else when))
            rows.append((status, when))
    with transaction(engine) as s:
        for buckets in (24, 2, 7):
            assert timeline(s, mailing_id, buckets=buckets) == reference(START, rows, buckets)
        assert timeline(s, empty_id) == []
        assert timeline(s, 10_000) == []
