"""The dashboard's timeline is summed from the outbox tally's seconds; it must equal
counting every row in Python."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, update

from mailer.services.mailings import TimelinePoint, chart_moments, timeline
from mailer.store.db import transaction
from mailer.store.models import Mailing, MailingKind, OutboxRow, OutboxStatus
from mailer.store.outbox import PlannedRecipient, plan_explicit

START = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
GROUP = {OutboxStatus.sent: "sent", OutboxStatus.failed: "failed",
         OutboxStatus.unknown: "failed", OutboxStatus.skipped: "skipped"}


def reference(start: datetime, rows: list[tuple[OutboxStatus, datetime]],
              buckets: int) -> list[TimelinePoint]:
    """Every row read and counted one by one: at each moment, the rows that reached their
    state in a second before it."""
    finals = sorted((when.replace(microsecond=0), GROUP[s]) for s, when in rows if s in GROUP)
    end = max([start, *(w + timedelta(seconds=1) for w, _ in finals)])
    points, i = [], 0
    running = {"sent": 0, "failed": 0, "skipped": 0}
    for at in chart_moments(start, end, buckets):
        while i < len(finals) and finals[i][0] < at:
            running[finals[i][1]] += 1
            i += 1
        points.append(TimelinePoint(at, {**running, "queued": len(rows) - sum(running.values())}))
    return points


def test_chart_moments_are_whole_seconds_from_start_to_end() -> None:
    start = START + timedelta(microseconds=1)
    moments = chart_moments(start, START + timedelta(seconds=10), 3)
    assert moments == [START + timedelta(seconds=1), START + timedelta(seconds=6),
                       START + timedelta(seconds=10)]


def test_timeline_from_the_tally_equals_counting_rows(engine: Engine) -> None:
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
        assert plan_explicit(s, mailing_id, [PlannedRecipient(f"p{i}@example.org")
                                             for i in range(400)], START) == 400
    with transaction(engine) as s:
        ids = sorted(s.scalars(OutboxRow.__table__.select().with_only_columns(OutboxRow.id)
                               .where(OutboxRow.mailing_id == mailing_id)))
        for oid in ids:
            status = rng.choice(statuses)
            # Within a second, at a second's start, exactly at a moment of the chart, at
            # the start and before it.
            when = START + timedelta(seconds=rng.choice([0, 1800, rng.randrange(-60, 3600)]),
                                     microseconds=rng.choice([0, rng.randrange(1_000_000)]))
            sent = when if status is OutboxStatus.sent else None
            # each row changed by a statement of its own, as the worker's updates do
            s.execute(update(OutboxRow).where(OutboxRow.id == oid).values(
                status=status, sent_at=sent,
                updated_at=when + timedelta(seconds=5) if sent else when))
            rows.append((status, when))
    with transaction(engine) as s:
        for buckets in (24, 2, 7):
            assert timeline(s, mailing_id, buckets=buckets) == reference(START, rows, buckets)
        assert timeline(s, empty_id) == []
        assert timeline(s, 10_000) == []
