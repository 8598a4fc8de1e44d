"""``mailing.cancelled``: a mailing that ends before every copy went (cancelled by hand,
nobody to send to at its time, or missed) tells the endpoints once, signed, with what went
and what will not; it never gets a ``mailing.finished``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from mailer.config import Settings
from mailer.delivery.worker import RetryPolicy, deliver_due
from mailer.errors import MailerError
from mailer.services import webhooks
from mailer.services.lists import create_list
from mailer.services.mailings import cancel, plan_mailing
from mailer.store.db import transaction
from mailer.store.models import Mailing, MailingStatus, WebhookDelivery, WebhookEvent
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.smtp_server import SmtpServer
from tests.test_subscribers_cli import Cli
from tests.test_webhooks import add, verify
from tests.webhook_receiver import Receiver

ENDS = "mailing.finished,mailing.cancelled"


def now() -> datetime:
    return datetime.now(UTC)


def _plan(engine: Engine, *, at: datetime | None = None, slug: str = "medborgardialog") -> int:
    with transaction(engine) as s:
        m, _ = plan_mailing(s, synthetic_rendered(3000), kind="newsletter", now=now(),
                            list_slugs=[slug], at=at)
        return m.id


def _events(engine: Engine) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    with transaction(engine) as s:
        return [(e.type, e.payload) for e in s.scalars(select(WebhookEvent)
                                                       .order_by(WebhookEvent.id))]


def test_a_mailing_cancelled_mid_send_from_the_cli_says_what_went_and_what_will_not(
        workspace: Path, db_url: str, engine: Engine, settings: Settings,
        receiver: Receiver, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"MAILER_DATABASE_URL": db_url, "MAILER_SECRET_KEY": "x" * 32,
                       "MAILER_SMTP_URL": smtp_server.url}.items():
        monkeypatch.setenv(key, value)
    cli = Cli(workspace, capsys, monkeypatch)
    assert cli("init")[0] == 0
    _, secret = add(engine, receiver.url, ENDS)
    add_subscribers(engine, 10)
    # Three mailboxes are busy: their copies wait for a retry when the cancel comes.
    busy = {f"person{i}@example.test" for i in (2, 5, 7)}
    smtp_server.handler.rcpt_fault = (
        lambda addr: "451 4.2.1 Mailbox busy, try later" if addr in busy else None)
    mid = _plan(engine)
    report = deliver_due(engine, settings, retry=RetryPolicy(base_seconds=3600))
    assert report.sent == 7
    with transaction(engine) as s:
        assert s.get(Mailing, mid).status is MailingStatus.sending  # type: ignore[union-attr]

    code, out, err = cli("cancel", str(mid))
    assert code == 0, err
    assert "3 messages will not be sent" in out
    code, out, _ = cli("worker", "--drain")
    assert code == 0 and "webhooks: delivered 1" in out
    code, _, err = cli("cancel", str(mid))
    assert code != 0 and "cancelled already" in err
    cli("worker", "--drain")  # nothing more: no second event, no mailing.finished

    got = receiver.received
    assert [r.type for r in got] == ["mailing.cancelled"]
    verify(secret, got)
    data = got[0].json["data"]
    assert data["reason"] == "cancelled" and data["not_sent"] == 3
    assert data["counts"] == {"sent": 7, "skipped": 3}
    assert data["mailing"]["id"] == mid and data["mailing"]["status"] == "cancelled"
    assert data["mailing"]["kind"] == "newsletter" and data["mailing"]["started_at"]
    assert data["mailing"]["finished_at"]
    assert len(smtp_server.received) == 7
    assert not busy & {r for m in smtp_server.received for r in m.rcpt_tos}


def test_missed_and_nobody_at_its_time_are_cancelled_with_their_reason(
        engine: Engine, settings: Settings, receiver: Receiver,
        smtp_server: SmtpServer) -> None:
    _, secret = add(engine, receiver.url, ENDS)
    add_subscribers(engine, 4)
    with transaction(engine) as s:
        create_list(s, "tom", "Tom lista", language="sv")
    missed = _plan(engine, at=now() + timedelta(hours=1))
    nobody = _plan(engine, at=now() + timedelta(hours=1), slug="tom")
    with transaction(engine) as s:  # no worker ran while the first one's time came and went
        s.execute(update(Mailing).where(Mailing.id == missed).values(
            scheduled_at=now() - timedelta(hours=2)))
        s.execute(update(Mailing).where(Mailing.id == nobody).values(
            scheduled_at=now() - timedelta(seconds=5)))
    report = deliver_due(engine, settings.model_copy(update={"misfire_grace_seconds": 3600}))
    assert report.missed == [missed] and report.sent == 0
    assert report.webhooks is not None and report.webhooks.delivered == 2
    deliver_due(engine, settings)  # harmless again: no second event

    got = receiver.received
    assert [r.type for r in got] == ["mailing.cancelled", "mailing.cancelled"]
    verify(secret, got)
    by_id = {r.json["data"]["mailing"]["id"]: r.json["data"] for r in got}
    assert by_id[missed]["reason"] == "missed"
    assert by_id[missed]["mailing"]["status"] == "missed"
    assert by_id[missed]["mailing"]["started_at"] is None
    assert by_id[missed]["not_sent"] == 4  # the list's four, planned at scheduling
    assert by_id[missed]["counts"] == {"skipped": 4}
    assert by_id[nobody]["reason"] == "nobody"
    assert by_id[nobody]["mailing"]["status"] == "cancelled"
    assert by_id[nobody]["counts"] == {} and by_id[nobody]["not_sent"] == 0
    assert smtp_server.received == []


def test_the_event_is_written_with_the_cancel_or_not_at_all(engine: Engine) -> None:
    """In the cancel's transaction: rolled back, it leaves no event; a test send's or a
    confirmation's end is no news (as with ``mailing.finished``); an endpoint that did not
    ask for it gets nothing."""
    crm, _ = add(engine, "https://crm.example.org/hooks", "mailing.cancelled")
    add(engine, "https://other.example.org/hooks", "mailing.finished")
    add_subscribers(engine, 3)
    mid = _plan(engine, at=now() + timedelta(days=1))

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction(engine) as s:
        cancel(s, mid, now())
        assert s.scalar(select(func.count()).select_from(WebhookEvent)) == 1
        raise Undo
    assert _events(engine) == []
    with transaction(engine) as s:
        status = s.get(Mailing, mid).status  # type: ignore[union-attr]
    assert status is MailingStatus.scheduled

    with transaction(engine) as s:
        cancel(s, mid, now())
    (kind, payload), = _events(engine)
    assert kind == "mailing.cancelled" and payload["mailing"]["id"] == mid
    assert payload["counts"] == {"skipped": 3} and payload["not_sent"] == 3
    with transaction(engine) as s:  # one delivery: to the endpoint that asked for it
        assert list(s.scalars(select(WebhookDelivery.endpoint_id))) == [crm]

    with transaction(engine) as s:
        test, _ = plan_mailing(s, synthetic_rendered(3000), kind="test", now=now(),
                               recipients=[], at=now() + timedelta(days=1))
        cancel(s, test.id, now())
    assert len(_events(engine)) == 1


def test_mailing_missed_is_refused_with_the_event_to_choose(engine: Engine) -> None:
    with transaction(engine) as s:
        with pytest.raises(MailerError, match="a missed mailing is a mailing.cancelled "
                                              "with reason 'missed'"):
            webhooks.add_endpoint(s, "https://crm.example.org/h", "mailing.missed")
        ep, _ = webhooks.add_endpoint(s, "https://crm.example.org/h", "mailing.cancelled")
        assert ep.events == ["mailing.cancelled"]
        assert "mailing.cancelled" in webhooks.parse_events("all")
