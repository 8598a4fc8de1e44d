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
