"""Sender health's "bounced after the server accepted it" (``bounced_after_sent``), read in
two steps (the bounced copies, then which of them were sent), on SQLite and PostgreSQL:
each copy once however many reports it got, only hard and soft bounces, only sent copies,
only this mailing's, across several look-ups."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from mailer.store import suppressions
from mailer.store.db import reading, transaction
from mailer.store.models import (
    FeedbackEvent,
    FeedbackEventKind,
    Mailing,
    MailingKind,
    MailingStatus,
    OutboxRow,
    OutboxStatus,
)


@pytest.mark.parametrize("chunk", [suppressions._BOUNCED_CHUNK, 2])
def test_each_sent_copy_that_bounced_counts_once(engine: Engine, chunk: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suppressions, "_BOUNCED_CHUNK", chunk)
    with transaction(engine) as s:
        ids = []
        for _ in range(2):
            m = Mailing(kind=MailingKind.newsletter, subject="x", html="", text="",
                        status=MailingStatus.done)
            s.add(m)
            s.flush()
            ids.append(m.id)
        mine, other = ids
        statuses = [OutboxStatus.sent] * 7 + [OutboxStatus.failed, OutboxStatus.skipped]
        rows = [OutboxRow(mailing_id=mine, email=f"p{i}@example.org",
                          email_key=f"p{i}@example.org", status=st)
                for i, st in enumerate(statuses)]
        theirs = OutboxRow(mailing_id=other, email="o@example.org", email_key="o@example.org",
                           status=OutboxStatus.sent)
        s.add_all([*rows, theirs])
        s.flush()

        def event(row: OutboxRow, klass: str, kind: FeedbackEventKind = FeedbackEventKind.bounce,
                  ) -> FeedbackEvent:
            return FeedbackEvent(kind=kind, outbox_id=row.id, mailing_id=row.mailing_id,
                                 email_hash="h", bounce_class=klass)

        s.add_all([
            event(rows[0], "hard"), event(rows[0], "hard"),  # two reports, one copy
            event(rows[1], "soft"), event(rows[2], "hard"), event(rows[3], "soft"),
            event(rows[4], "policy"),  # a policy refusal is not counted here
            event(rows[5], "", FeedbackEventKind.complaint),  # nor a complaint
            event(rows[7], "hard"),  # failed at RCPT already: not "after sent"
            event(rows[8], "hard"),  # skipped
            event(theirs, "hard"),  # another mailing's
        ])
        s.add(FeedbackEvent(kind=FeedbackEventKind.bounce, outbox_id=None, mailing_id=mine,
                            email_hash="h", bounce_class="hard"))  # its copy is gone
    with reading(engine) as s:
        assert suppressions.bounced_after_sent(s, mine) == 4
        assert suppressions.bounced_after_sent(s, other) == 1
