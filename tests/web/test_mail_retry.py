"""A confirmation mail the SMTP server refuses is queued in the outbox, not lost."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.store.db import transaction
from mailer.store.models import Mailing, OutboxRow
from mailer.store.subscriptions import SubscribeOutcome
from mailer.web.mail import SubscriptionMail, build_message, send_mail
from tests.smtp_server import SmtpServer


def test_refused_confirmation_is_retried_by_the_worker(engine: Engine, settings: Settings,
                                                       smtp_server: SmtpServer) -> None:
    mail = SubscriptionMail(to="Åsa.Öberg@hylte.example", language="sv",
                            list_name="Nyhetsbrev om medborgardialog",
                            outcome=SubscribeOutcome.pending,
                            link="https://nyhetsbrev.example.org/confirm/abc")
    smtp_server.handler.fault = lambda envelope: "451 4.3.0 try again later"
    assert asyncio.run(send_mail(settings, build_message(settings, mail), engine)) is False
    assert smtp_server.received == []
    with transaction(engine) as s:
        (mailing,) = s.scalars(select(Mailing)).all()
        assert mailing.kind == "confirmation"
        (row,) = s.scalars(select(OutboxRow)).all()
        assert row.email == "Åsa.Öberg@hylte.example"
    smtp_server.handler.fault = None  # the server recovers; the worker delivers it once
    assert deliver_due(engine, settings).sent == 1
    (got,) = smtp_server.wait_for(1)
    assert "https://nyhetsbrev.example.org/confirm/abc" in got.message.get_body(
        ("plain",)).get_content()
    assert got.message["Auto-Submitted"] == "auto-generated"


def test_access_report_lists_mail_and_erase_removes_address_only_rows(
        engine: Engine, settings: Settings) -> None:
    from mailer.store.models import Subscriber
    from mailer.store.subscribers import erase_subscriber, find_subscriber, personal_data
    from mailer.web.mail import queue_for_retry

    with transaction(engine) as s:
        s.add(Subscriber(email="asa@hylte.example", email_key="asa@hylte.example"))
    mail = SubscriptionMail(to="asa@hylte.example", language="sv", list_name="Nyhetsbrev",
                            outcome=SubscribeOutcome.pending, link="https://x.example/c/1")
    queue_for_retry(engine, build_message(settings, mail))
    with transaction(engine) as s:
        person = find_subscriber(s, "ASA@hylte.example")
        assert person is not None
        (delivery,) = personal_data(s, person)["deliveries"]
        assert delivery["status"] == "queued" and delivery["address"] == "asa@hylte.example"
        erase_subscriber(s, person)
    with transaction(engine) as s:
        assert s.scalars(select(OutboxRow)).all() == []
