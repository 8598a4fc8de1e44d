"""The few mails the web pages send themselves: confirm a subscription, welcome, "already".

They go straight to ``settings.smtp`` with aiosmtplib, so a confirmation link arrives in
seconds even where no worker runs. When that first try fails, the message is queued as a
``confirmation`` mailing in the outbox instead, so the worker's retries deliver it: a
person who asked for a link never loses it to a passing SMTP fault.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import Engine

from mailer.config import Settings
from mailer.render.types import Attachment, RenderedMailing
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


async def send_mail(settings: Settings, message: EmailMessage,
                    engine: Engine | None = None) -> bool:
    """Send one message to the configured SMTP server now; True when it was accepted.

    On failure it is logged and, given ``engine``, queued in the outbox for the worker's
    retries (see ``queue_for_retry``).
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
        if engine is not None:
            await asyncio.to_thread(queue_for_retry, engine, message)
        return False
    return True


def queue_for_retry(engine: Engine, message: EmailMessage) -> int:
    """Queue ``message`` as a one-recipient ``confirmation`` mailing; returns its id."""
    from mailer.services.mailings import PlannedRecipient, plan_mailing
    from mailer.store.db import transaction

    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    files = tuple(
        Attachment(part.get_filename() or "attachment", part.get_content_type(),
                   part.get_payload(decode=True) or b"")
        for part in message.iter_attachments())
    rendered = RenderedMailing(
        subject=str(message["Subject"]), language=str(message["Content-Language"] or "sv"),
        text=text.get_content() if text is not None else "",
        html=html.get_content() if html is not None else "", attachments=files)
    with transaction(engine) as session:
        mailing, _ = plan_mailing(session, rendered, kind="confirmation", now=utcnow(),
                                  name=f"retry: {message['Subject']}",
                                  recipients=[PlannedRecipient(email=str(message["To"]))])
    log.info("queued %s for %s in the outbox (mailing %s)", message["Subject"],
             message["To"], mailing.id)
    return int(mailing.id)
