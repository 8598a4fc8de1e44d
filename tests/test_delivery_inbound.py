"""The mailto: form of List-Unsubscribe works: a request mail ends the subscription."""

from __future__ import annotations

import mailbox
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import Engine, select

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.services.deliverability import process_inbox
from mailer.services.mailings import plan_mailing
from mailer.store.db import transaction
from mailer.store.models import Subscription, SubscriptionStatus
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.smtp_server import SmtpServer


def test_mailto_unsubscribe_request_is_applied_once(engine: Engine, settings: Settings,
                                                    smtp_server: SmtpServer,
                                                    tmp_path: Path) -> None:
    add_subscribers(engine, 2)
    with transaction(engine) as s:
        plan_mailing(s, synthetic_rendered(2_000), kind="newsletter", now=datetime.now(UTC),
                     list_slugs=["medborgardialog"])
    deliver_due(engine, settings)
    sent = smtp_server.wait_for(2)[0].message
    mailto = re.search(r"<mailto:([^>]+)>", str(sent["List-Unsubscribe"])).group(1)
    address, _, query = mailto.partition("?")
    request = EmailMessage()  # what a mail client sends for the mailto: link
    request["From"] = sent["To"]
    request["To"] = address
    request["Subject"] = unquote(query.removeprefix("subject="))
    request.set_content("")
    box = mailbox.Maildir(tmp_path / "inbox", create=True)
    box.add(request)
    noise = EmailMessage()
    noise["Subject"] = "Tack för nyhetsbrevet!"
    box.add(noise)

    report = process_inbox(engine, settings, tmp_path / "inbox", now=datetime.now(UTC))
    assert (report.read, report.requests, report.unsubscribed, report.other) == (2, 1, 1, 1)
    with transaction(engine) as s:
        statuses = sorted(str(x) for x in s.scalars(select(Subscription.status)))
    assert statuses == [SubscriptionStatus.active, SubscriptionStatus.unsubscribed]
    # Processed messages are recorded (and flagged): a second run reads them, applies nothing.
    again = process_inbox(engine, settings, tmp_path / "inbox", now=datetime.now(UTC))
    assert (again.read, again.already, again.unsubscribed, again.requests) == (2, 2, 0, 0)


def test_eml_folder_and_mbox_are_read_once(engine: Engine, settings: Settings,
                                          tmp_path: Path) -> None:
    noise = EmailMessage()
    noise["Subject"] = "Frånvaro: tillbaka måndag"
    noise["Auto-Submitted"] = "auto-replied"
    noise["From"] = "anna@hylte.se"
    noise["Message-ID"] = "<x1@hylte.se>"
    noise.set_content("Jag är ledig.")
    folder = tmp_path / "eml"
    folder.mkdir()
    (folder / "a.eml").write_bytes(bytes(noise))
    report = process_inbox(engine, settings, folder, now=datetime.now(UTC))
    assert (report.read, report.auto_replies) == (1, 1)
    assert (folder / "processed" / "a.eml").exists() and not (folder / "a.eml").exists()
    box = mailbox.mbox(tmp_path / "mbox")
    box.add(noise)
    box.close()
    report = process_inbox(engine, settings, tmp_path / "mbox", now=datetime.now(UTC))
    assert (report.read, report.already) == (1, 1)  # same Message-ID: processed before
