"""The few mails the web pages send themselves: confirm a subscription, welcome, "already".

Integration seam: these go straight to ``settings.smtp`` with aiosmtplib for now. When the
delivery layer's outbox is merged, ``send_mail`` is the one function to switch to a
``confirmation`` mailing in the outbox (retries, rate limit, logging in one place);
``build_*`` stays as it is.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mailer.config import Settings
from mailer.store.models import utcnow
from mailer.store.subscriptions import SubscribeOutcome
from mailer.web.i18n import translator

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates" / "mail"
CONFIRM_DAYS = 7

_env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                   autoescape=select_autoescape(enabled_extensions=("html.j2",)),
                   keep_trailing_newline=True)

_KIND = {
    SubscribeOutcome.pending: "confirm",
    SubscribeOutcome.activated: "welcome",
    SubscribeOutcome.already_active: "already",
}


@dataclass(frozen=True, slots=True)
class SubscriptionMail:
    """What the mail says: to whom, in which language, about which list, with which link."""

    to: str
    language: str
    list_name: str
    outcome: SubscribeOutcome
    link: str  # confirm link, or the preferences link for "welcome"/"already"
    unsubscribe_url: str = ""


def build_message(settings: Settings, mail: SubscriptionMail) -> EmailMessage:
    """A multipart/alternative message (text first, then HTML) in the subscriber's language."""
    kind = _KIND[mail.outcome]
    _ = translator(mail.language)
    ctx = {"_": _, "lang": mail.language, "list_name": mail.list_name, "link": mail.link,
           "days": CONFIRM_DAYS, "unsubscribe_url": mail.unsubscribe_url,
           "sender": settings.sender.name or settings.sender.address}
    subject = {
        "confirm": _("Confirm your subscription to %(list)s", list=mail.list_name),
        "welcome": _("Welcome to %(list)s", list=mail.list_name),
        "already": _("You already subscribe to %(list)s", list=mail.list_name),
    }[kind]
    msg = EmailMessage()
    sender = settings.sender
    msg["From"] = sender.formatted()
    msg["To"] = mail.to
    if settings.reply_to:
        msg["Reply-To"] = settings.reply_to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@{sender.domain}>"
    # RFC 3834: an automatic reply to a person's action; vacation responders stay quiet.
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = mail.language
    msg.set_content(_env.get_template(f"{kind}.txt.j2").render(ctx))
    msg.add_alternative(_env.get_template(f"{kind}.html.j2").render(ctx), subtype="html")
    return msg


async def send_mail(settings: Settings, message: EmailMessage) -> bool:
    """Send one message to the configured SMTP server; False (and a log line) on failure.

    The page has already told the person to look in their inbox; a failure here is for
    the operator's log (and, after integration, the outbox's retries).
    """
    smtp = settings.smtp
    start_tls = {"auto": None, "required": True, "off": False}[smtp.starttls]
    try:
        await aiosmtplib.send(
            message, hostname=smtp.host, port=smtp.port, username=smtp.username,
            password=smtp.password, use_tls=smtp.use_tls, start_tls=start_tls,
            validate_certs=smtp.validate_certs, timeout=settings.smtp_timeout)
    except (aiosmtplib.SMTPException, OSError) as exc:
        log.warning("could not send %s to the SMTP server %s: %s",
                    message["Subject"], smtp.redacted(), exc)
        return False
    return True


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
    _ = translator(mail.language)
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
    msg.set_content(_env.get_template("registered.txt.j2").render(ctx))
    msg.add_alternative(_env.get_template("registered.html.j2").render(ctx), subtype="html")
    if mail.ics and not mail.waitlisted:
        # RFC 5545/6047: METHOD:PUBLISH, so calendars add the meetings without an RSVP.
        msg.add_attachment(mail.ics, maintype="text", subtype="calendar",
                           filename=ICS_FILENAME, params={"method": "PUBLISH"})
    return msg
