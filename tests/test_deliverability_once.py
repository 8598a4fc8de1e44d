"""Each row's bounce counts once, whichever way it arrives and however often: a refusal at
RCPT then a relay's DSN for the same copy, or copies of one DSN under other Message-IDs
(which would otherwise reach the soft-bounce limit on their own). Behaviour kept by
``services.deliverability._bounce`` (inbox) and ``Worker._record_bounces`` (SMTP)."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, select

from mailer.config import load_settings
from mailer.delivery.verp import Verp
from mailer.delivery.worker import deliver_due
from mailer.services.deliverability import process_inbox
from mailer.services.mailings import plan_mailing
from mailer.store.db import transaction
from mailer.store.models import FeedbackEvent, OutboxRow, Suppression
from tests.conftest import TEST_SECRET
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.smtp_server import SmtpServer
from tests.test_deliverability_e2e import BOUNCES, report_for


def test_a_rows_bounce_is_counted_once_from_rcpt_dsn_and_copies(
        engine: Engine, db_url: str, workspace: Path, smtp_server: SmtpServer,
        tmp_path: Path) -> None:
    settings = load_settings(workspace, database_url=db_url, smtp_url=smtp_server.url,
                             secret_key=TEST_SECRET, bounce_address=BOUNCES,
                             base_url="https://nyhetsbrev.example.org")
    add_subscribers(engine, 3)
    smtp_server.handler.rcpt_fault = (
        lambda a: f"550 5.1.1 <{a}>: Recipient address rejected: User unknown"
        if a == "person0@example.test" else None)
    with transaction(engine) as s:
        mailing, _ = plan_mailing(s, synthetic_rendered(4_000), kind="newsletter",
                                  now=datetime.now(UTC), list_slugs=["medborgardialog"])
        rows = dict(s.execute(select(OutboxRow.email, OutboxRow.id)
                              .where(OutboxRow.mailing_id == mailing.id)).all())
    report = deliver_due(engine, settings)
    assert (report.sent, report.bounced) == (2, 1)

    verp = Verp(BOUNCES, TEST_SECRET)
    maildir = tmp_path / "bounces"
    box = mailbox.Maildir(maildir, create=True)
    # The refused copy: a relay's DSN about it too. person1: one "mailbox full" DSN (soft)
    # arriving three times under different Message-IDs: counted three times it would
    # reach the soft-bounce limit (3) and suppress a reader whose mailbox filled once.
    box.add(report_for("postfix_dsn.eml", "person0@example.test",
                       rows["person0@example.test"], verp, 1))
    for n in (2, 3, 4):
        full = report_for("postfix_dsn.eml", "person1@example.test",
                          rows["person1@example.test"], verp, n).decode()
        full = full.replace("5.1.1", "5.2.2").replace(
            "Recipient address rejected: User", "Mailbox full:").replace(
            "unknown in local recipient", "quota exceeded")
        box.add(full.replace("Message-ID: <report", "Message-ID: <copy", 1).encode())
    box.close()
    inbox = process_inbox(engine, settings, maildir, now=datetime.now(UTC))
    assert inbox.read == 4 and inbox.already == 0
    assert (inbox.hard, inbox.soft, inbox.suppressed) == (0, 1, 0), inbox
    with transaction(engine) as s:
        events = sorted((r.outbox_id, r.source) for r in s.execute(
            select(FeedbackEvent.outbox_id, FeedbackEvent.source)))
        suppressed = sorted(s.scalars(select(Suppression.email)))
    assert events == sorted([(rows["person0@example.test"], "smtp"),
                             (rows["person1@example.test"], "inbox")])
    assert suppressed == ["person0@example.test"]
