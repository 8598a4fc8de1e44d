"""A mailing's reasons (why copies were not delivered) are read from the partial index
``ix_outbox_not_delivered`` (migration 0021), on SQLite and PostgreSQL: grouped as
counting the copies one by one groups them, long replies included (a 1,000-character
reply in any script fits the index: it holds the first 200 characters), and the query
is one the index serves (SQLite uses a partial index only for a query that says its
WHERE in the same words)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Engine, select

from mailer.domain.outcomes import group_reasons, reason_of
from mailer.services.mailings import progress
from mailer.store import outbox
from mailer.store.db import reading, transaction
from mailer.store.models import Mailing, MailingKind, MailingStatus, OutboxRow, OutboxStatus
from tests.query_plans import plan_of

LONG = "550 5.7.1 " + "Å" * 990  # 1,000 characters, 1,990 bytes of UTF-8
REPLIES = [
    (OutboxStatus.failed, "550 5.1.1 <a@example.org>: Recipient address rejected"),
    (OutboxStatus.failed, "550 5.1.1 <b@example.org>: Recipient address rejected"),
    (OutboxStatus.failed, LONG), (OutboxStatus.failed, LONG[:-1] + "B"),
    (OutboxStatus.failed, "gave up after 8 attempts: 451 4.3.0 try later"),
    (OutboxStatus.skipped, "not sent: unsubscribed before sending"),
    (OutboxStatus.skipped, "not sent: unsubscribed before sending"),
    (OutboxStatus.skipped, "not sent: the mailing expired"),
    (OutboxStatus.unknown, "timeout after DATA"),
    (OutboxStatus.sent, "250 2.0.0 Ok: queued"), (OutboxStatus.retry, "451 4.3.0 later"),
]


def _mailing(engine: Engine) -> int:
    with transaction(engine) as s:
        m = Mailing(kind=MailingKind.newsletter, subject="x", html="", text="",
                    status=MailingStatus.done)
        s.add(m)
        s.flush()
        s.add_all(OutboxRow(mailing_id=m.id, email=f"p{i}@example.org",
                            email_key=f"p{i}@example.org", status=status, last_reply=reply)
                  for i, (status, reply) in enumerate(REPLIES))
        return m.id


def test_reasons_are_what_the_copies_say(engine: Engine) -> None:
    mid = _mailing(engine)
    with reading(engine) as s:
        got = progress(s, [mid])[0].reasons
        rows = Counter((str(r.status), r.last_reply) for r in s.scalars(
            select(OutboxRow).where(OutboxRow.status.in_(
                [OutboxStatus.skipped, OutboxStatus.failed, OutboxStatus.unknown]))))
    want = group_reasons([(st, reply, n) for (st, reply), n in rows.items()])
    assert [(r.status, r.key, r.count) for r in got] == [
        (r.status, r.key, r.count) for r in want]
    assert {(r.status, r.key, r.count) for r in got} == {
        ("failed", "refused", 4), ("failed", "gave_up", 1), ("skipped", "unsubscribed", 2),
        ("skipped", "expired", 1), ("unknown", "unknown", 1)}
    assert all(len(r.example) <= 200 for r in got)
    assert reason_of("failed", LONG[:200]) == reason_of("failed", LONG) == "refused"


def test_the_reasons_query_is_served_by_the_partial_index(engine: Engine) -> None:
    mid = _mailing(engine)
    with reading(engine) as s:
        plan = plan_of(s, outbox.not_delivered_query([mid]))
    assert "ix_outbox_not_delivered" in plan, plan
