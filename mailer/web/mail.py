"""Transitional: the registration confirmation of the web form, and ``send_mail``.

The subscription mails (confirm, welcome, "already") are no longer sent from here: they are
rendered and planned as ``confirmation`` mailings by ``mailer.services.subscriptions``
(templates in ``templates/mail/``, see ``mailer.services.notifications``), and the worker
delivers them. What is left serves the registration form (``routes/register.py``) and the
admin test send (``admin/delivery.py``) until they move to the outbox too; ``send_mail``
goes through ``mailer.delivery.smtp.SmtpPool``, the one place that speaks SMTP.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import Engine

from mailer.config import Settings
from mailer.delivery.smtp import SmtpPool
from mailer.delivery.transport import Result
from mailer.services.notifications import gettext, mail_env
from mailer.store.models import utcnow

log = logging.getLogger(__name__)


async def send_mail(settings: Settings, message: EmailMessage,
                    engine: Engine | None = None) -> bool:
    """Send one message now through a one-connection ``SmtpPool``; True when accepted.

    Transitional (``engine`` is unused): callers move to planned mailings.
    """
    pool = SmtpPool(settings.smtp, size=1, timeout=settings.smtp_timeout)
    try:
        out = await pool.send(settings.sender.address, str(message["To"]),
                              message.as_bytes(policy=policy.SMTP))
    finally:
        await pool.close()
    if out.result is not Result.sent:
        log.warning("could not send %s to the SMTP server %s: %s", message["Subject"],
                    settings.smtp.redacted(), out.reply)
    return out.result is Result.sent


@dataclass(frozen=True, slots=True)
class RegistrationMail:
    """The confirmation of a registration, with the meetings as an .ics attachment."""

    to: str
    language: str
    title: str
    waitlisted: bool = False
    ics: bytes | None = None


ICS_FILENAME = "inbjudan.ics"


def build_registration_message(settings: Settings, mail: RegistrationMail) -> EmailMessage:
    _ = gettext(mail.language)
    ctx = {"_": _, "lang": mail.language, "title": mail.title, "waitlisted": mail.waitlisted,
           "sender": settings.sender.name or settings.sender.address, "list_name": mail.title}
    msg = EmailMessage()
    msg["From"] = settings.sender.formatted()
    msg["To"] = mail.to
    if settings.reply_to:
        msg["Reply-To"] = settings.reply_to
    msg["Subject"] = (_("On the waiting list: %(title)s", title=mail.title) if mail.waitlisted
                      else _("You are registered: %(title)s", title=mail.title))
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@{settings.sender.domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = mail.language
    msg.set_content(mail_env.get_template("registered.txt.j2").render(ctx))
    msg.add_alternative(mail_env.get_template("registered.html.j2").render(ctx), subtype="html")
    if mail.ics and not mail.waitlisted:
        # RFC 5545/6047: METHOD:PUBLISH, so calendars add the meetings without an RSVP.
        msg.add_attachment(mail.ics, maintype="text", subtype="calendar",
                           filename=ICS_FILENAME, params={"method": "PUBLISH"})
    return msg
