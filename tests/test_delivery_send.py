"""End to end: plan a mailing, deliver it through a real SMTP server on loopback."""

from __future__ import annotations

import quopri
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update

from mailer.config import Settings
from mailer.delivery import worker
from mailer.delivery.message import HeaderInjection, MessageTemplate, Recipient
from mailer.delivery.worker import deliver_due
from mailer.errors import MailerError
from mailer.links import Links
from mailer.render.types import RenderedMailing
from mailer.services.mailings import PlannedRecipient, plan_mailing, progress
from mailer.store.db import transaction
from mailer.store.models import Mailing, OutboxRow, Subscription, SubscriptionStatus
from mailer.tokens import Purpose, Tokens
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.smtp_server import SmtpServer


def now() -> datetime:
    return datetime.now(UTC)


def test_thousand_subscribers_each_get_one_complete_message(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    list_id = add_subscribers(engine, 1000)
    rendered = synthetic_rendered()
    with transaction(engine) as s:
        mailing, planned = plan_mailing(s, rendered, kind="newsletter", now=now(),
                                        list_slugs=["medborgardialog"])
        mid = mailing.id
        # Planning again is idempotent (ON CONFLICT DO NOTHING on mailing+address).
        from mailer.store.outbox import plan_lists
        assert plan_lists(s, mid, [list_id], now()) == 0
    assert planned == 1000

    report = deliver_due(engine, settings)
    assert (report.sent, report.failed, report.retried) == (1000, 0, 0)
    got = smtp_server.received
    rcpts = Counter(r.rcpt_tos[0] for r in got)
    assert len(got) == 1000 and len(rcpts) == 1000 and max(rcpts.values()) == 1

    tokens = Tokens(settings.signing_key())
    for r in got[:: 97]:
        msg = r.message
        assert r.mail_from == settings.sender.address
        assert msg["To"].addresses[0].addr_spec == r.rcpt_tos[0]
        assert msg["Subject"] == rendered.subject
        assert msg["From"] == settings.sender.formatted()
        assert msg["Message-ID"].endswith("@example.org>")
        assert msg["List-Id"] == "Medborgardialog <medborgardialog.example.org>"
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "Auto-Submitted" not in msg
        assert msg["X-Mailer-Outbox"].isdigit()
        unsub = str(msg["List-Unsubscribe"])
        url = unsub.split("<", 1)[1].split(">", 1)[0]
        assert url.startswith("https://nyhetsbrev.example.org/u/")
        assert "mailto:" in unsub
        data = tokens.read(Purpose.unsubscribe, url.rsplit("/", 1)[1])
        assert data.scope_id == list_id
        assert msg.get_content_type() == "multipart/alternative"
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert url in text and url in html
        assert "Örnsköldsvik" in text and "Örnsköldsvik" in html
        assert "%%" not in text and "%%" not in html
        assert "\n.punkt först" in text  # a line starting with "." survives SMTP
        assert len(html) > 40_000
        # Every line within RFC 5322's limits, CRLF only.
        assert all(len(line) <= 998 for line in r.data.split(b"\r\n"))
    with transaction(engine) as s:
        assert progress(s, [mid])[0].status == "done"
        rows = s.execute(select(OutboxRow.status, OutboxRow.message_id, OutboxRow.sent_at)
                         .where(OutboxRow.mailing_id == mid)).all()
    assert {r[0] for r in rows} == {"sent"} and all(r[1] and r[2] for r in rows)
    assert len({r[1] for r in rows}) == 1000


def test_unsubscribed_after_planning_is_skipped(engine: Engine, settings: Settings,
                                               smtp_server: SmtpServer) -> None:
    add_subscribers(engine, 20)
    with transaction(engine) as s:
        mailing, _ = plan_mailing(s, synthetic_rendered(8000), kind="newsletter", now=now(),
                                  list_slugs=["medborgardialog"])
        first = s.scalars(select(OutboxRow).where(OutboxRow.mailing_id == mailing.id)
                          .order_by(OutboxRow.id)).first()
        assert first is not None
        gone = first.email
        s.execute(update(Subscription).where(Subscription.subscriber_id == first.subscriber_id)
                  .values(status=SubscriptionStatus.unsubscribed))
    report = deliver_due(engine, settings)
    assert report.sent == 19
    assert gone not in {r.rcpt_tos[0] for r in smtp_server.received}
    with transaction(engine) as s:
        row = s.get(OutboxRow, first.id)
        assert row is not None and row.status == "skipped" and "unsubscribed" in row.last_reply


def test_reminder_to_explicit_recipients(engine: Engine, settings: Settings,
                                         smtp_server: SmtpServer) -> None:
    rendered = RenderedMailing(subject="Påminnelse: sista anmälningsdag",
                               html="<p>Hej %%name%%, anmäl dig: "
                                    '<a href="%%register_url%%">anmälan</a></p>',
                               text="Hej %%name%%, anmäl dig: %%register_url%%\n")
    people = [PlannedRecipient("kim@example.se", "Kim Ågren",
                               fields={"register_url": "https://x.example/r/abc?x=1&y=2"}),
              PlannedRecipient("KIM@example.se", "duplicate ignored"),
              PlannedRecipient("bo@example.se", "")]
    with transaction(engine) as s:
        _, n = plan_mailing(s, rendered, kind="reminder", now=now(), recipients=people)
    assert n == 2
    assert deliver_due(engine, settings).sent == 2
    by = {r.rcpt_tos[0]: r.message for r in smtp_server.received}
    kim = by["kim@example.se"]
    assert kim["Auto-Submitted"] == "auto-generated"
    assert "List-Unsubscribe" not in kim and "List-Id" not in kim
    assert str(kim["To"]) == "Kim Ågren <kim@example.se>"
    assert "https://x.example/r/abc?x=1&amp;y=2" in kim.get_body(("html",)).get_content()
    assert "https://x.example/r/abc?x=1&y=2" in kim.get_body(("plain",)).get_content()


def test_header_injection_refused(engine: Engine, settings: Settings) -> None:
    bad = RenderedMailing(subject="Hej\r\nBcc: victim@example.org", html="<p>x</p>", text="x")
    with transaction(engine) as s, pytest.raises(MailerError, match="line break"):
        plan_mailing(s, bad, kind="test", now=now(), recipients=[PlannedRecipient("a@b.se")])
    with transaction(engine) as s:  # a name is cleaned, never refused (issue 13, item 3)
        m, _ = plan_mailing(s, synthetic_rendered(3000), kind="test", now=now(),
                            recipients=[PlannedRecipient("a@b.se", "Eve\nBcc: x@y.z")])
        names = list(s.scalars(select(OutboxRow.name).where(OutboxRow.mailing_id == m.id)))
        assert names == ["Eve Bcc: x@y.z"]
    with transaction(engine) as s, pytest.raises(MailerError, match="line break"):
        plan_mailing(s, synthetic_rendered(3000), kind="test", now=now(),
                     recipients=[PlannedRecipient("a@b.se\nBcc: x@y.z", "Eve")])
    with transaction(engine) as s:
        m, _ = plan_mailing(s, synthetic_rendered(3000), kind="test", now=now(),
                            recipients=[PlannedRecipient("a@b.se")])
        mailing = s.get(Mailing, m.id)
    assert mailing is not None
    tmpl = MessageTemplate.for_mailing(mailing, sender=settings.sender,
                                       links=Links(settings.base_url,
                                                   Tokens(settings.signing_key())))
    with pytest.raises(HeaderInjection):
        tmpl.build(Recipient(1, "a@b.se\r\nBcc: x@y.z"))


@pytest.mark.parametrize("value", ["Åsa", ".dot first", "x" * 200 + "=", "a  b\t", "é" * 80,
                                   "https://example.org/u/1.2.AbC-_x" + "y" * 90])
def test_values_spliced_into_quoted_printable_decode_exactly(value: str) -> None:
    from mailer.delivery import qp

    a, b = "Hej på dig " * 9, " och hejdå.\n.ny rad"
    raw = qp.encode(a) + qp.splice(value) + qp.encode(b)
    lines = raw.split(b"\r\n")
    assert all(len(line) <= 76 for line in lines)
    assert not any(line.startswith(b".") for line in lines)
    assert quopri.decodestring(raw).decode("utf-8").replace("\r\n", "\n") == a + value + b


def test_a_mailing_sent_to_its_end_is_done_while_another_keeps_the_worker_busy(
        engine: Engine, settings: Settings, smtp_server: SmtpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A confirmation's mailing is marked done (and its webhook due) within a heartbeat,
    not when a big mailing queued behind it is done too."""
    monkeypatch.setattr(worker, "HEARTBEAT_SECONDS", 0.0)  # a heartbeat every turn
    add_subscribers(engine, 300)
    with transaction(engine) as s:
        small, _ = plan_mailing(s, synthetic_rendered(2_000), kind="confirmation", now=now(),
                                recipients=[PlannedRecipient("ny@example.org")])
        big, _ = plan_mailing(s, synthetic_rendered(2_000), kind="newsletter", now=now(),
                              list_slugs=["medborgardialog"])
    report = deliver_due(engine, settings)
    assert report.sent == 301 and sorted(report.finished) == sorted([small.id, big.id])
    with transaction(engine) as s:
        done = s.get(Mailing, small.id)
        assert done is not None and done.status == "done" and done.finished_at is not None
        last_of_big = s.scalar(select(func.max(OutboxRow.sent_at))
                               .where(OutboxRow.mailing_id == big.id))
        assert last_of_big is not None and done.finished_at < last_of_big


def test_expired_mailing_sends_nothing_and_finishes(engine: Engine, settings: Settings,
                                                    smtp_server: SmtpServer) -> None:
    """A reminder planned before its deadline but not sent by then is skipped, not late."""
    add_subscribers(engine, 5)
    with transaction(engine) as s:
        mailing, planned = plan_mailing(
            s, synthetic_rendered(2_000), kind="reminder", now=now(),
            list_slugs=["medborgardialog"], expires_at=now() - timedelta(seconds=1))
    assert planned == 5
    report = deliver_due(engine, settings)
    assert report.sent == 0 and smtp_server.received == []
    with transaction(engine) as s:
        rows = s.scalars(select(OutboxRow).where(OutboxRow.mailing_id == mailing.id)).all()
        assert {r.status for r in rows} == {"skipped"}
        assert all("expired" in r.last_reply for r in rows)
        assert s.get(Mailing, mailing.id).status == "done"
