"""``mailer smtp test``: what each configured SMTP server offers, and one test message.

Connects to every server in MAILER_SMTP_URL as the worker would (TLS, login, XOAUTH2
token), reports the extensions and the certificate, and optionally sends one message
through that server's ``SmtpPool`` — not through the outbox: the point is to see this
server's own answer, now, before any mailing depends on it. The message is built by
``delivery.message`` like every other.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from mailer.config import Settings
from mailer.delivery.message import MessageTemplate, Recipient
from mailer.delivery.oauth import token_source
from mailer.delivery.smtp import Probe, probe
from mailer.delivery.worker import pool_for
from mailer.links import Links
from mailer.render.i18n import Translator
from mailer.store.models import Mailing, MailingKind


@dataclass(frozen=True, slots=True)
class Check:
    probe: Probe
    weight: float
    limits: str  # "20/s, 1000/h" or "unlimited"


def _limits(per_second: float, per_hour: int) -> str:
    parts = ([f"{per_second:g}/s"] if per_second else []) + ([f"{per_hour}/h"]
                                                              if per_hour else [])
    return ", ".join(parts) or "unlimited"


def test_message(settings: Settings, to: str, server: str) -> bytes:
    """One small message to ``to``, with every header built where all headers are."""
    t = Translator(settings.language)
    now = datetime.now(settings.tz)
    text = t.gettext('This message was sent by "mailer smtp test" through %(server)s at '
                     '%(time)s. If it arrived, the server takes mail from us.') % {
        "server": server, "time": now.strftime("%Y-%m-%d %H:%M")}
    mailing = Mailing(id=0, kind=MailingKind.test, subject=t.gettext("Test message from mailer"),
                      html=f"<p>{text}</p>", text=text + "\n", language=settings.language,
                      headers={}, list_ids=[])
    links = Links.of(settings)
    tmpl = MessageTemplate.for_mailing(mailing, sender=settings.sender, links=links,
                                       reply_to=settings.reply_to)
    return tmpl.build(Recipient(0, to, "", None, None, "", None)).data


def check_servers(settings: Settings, *, to: str | None = None) -> list[Check]:
    """Probe every configured server; with ``to``, send each one test message."""
    tokens = token_source(settings)

    async def run() -> list[Check]:
        out = []
        for url in settings.smtp_servers:
            pool = pool_for(settings, url, prepared=False, tokens=tokens)
            message = None
            if to:
                message = (settings.sender.address, to,
                           test_message(settings, to, url.redacted()))
            try:
                p = await probe(pool, message=message)
            finally:
                await pool.close()
            out.append(Check(p, url.weight, _limits(pool.rate.limits.per_second,
                                                    pool.rate.limits.per_hour)))
        return out
    return asyncio.run(run())
