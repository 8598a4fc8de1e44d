"""A sample recipient's copy of a mailing: personalised HTML/text and a complete .eml."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr, formatdate, make_msgid

from mailer.config import Sender
from mailer.links import Links
from mailer.render.i18n import greeting
from mailer.render.personalise import html_template, text_template
from mailer.render.types import RenderedMailing
from mailer.tokens import Tokens

#: Links in a sample are signed with this key unless a real one is configured; they show
#: the shape of the real links but are refused by the web pages.
PREVIEW_KEY = "preview-only-links-are-not-valid-0000"
SAMPLE_RECIPIENT = {
    "name": "Exempel Exempelsson",
    "first_name": "Exempel",
    "email": "exempel.exempelsson@example.org",
    "organisation": "Exempelby kommun",
}


def sample_values(base_url: str, secret_key: str = "", *, language: str, mailing_id: int = 0,
                  list_id: int = 1, subscriber_id: int = 1) -> dict[str, str]:
    """Per-recipient values for the sample recipient, with signed links like the real ones,
    greeted in the mailing's ``language`` ("Hej Exempel!" / "Hello Exempel,")."""
    links = Links(base_url, Tokens(secret_key or PREVIEW_KEY))
    return {
        **SAMPLE_RECIPIENT,
        "greeting": greeting(SAMPLE_RECIPIENT["first_name"], language),
        "unsubscribe_url": links.unsubscribe(subscriber_id, list_id),
        "preferences_url": links.preferences(subscriber_id),
        "browser_url": links.browser(mailing_id),
        "register_url": f"{links.base}/register",
    }


def personalise(rendered: RenderedMailing, values: dict[str, str]) -> tuple[str, str]:
    """(html, text) for one recipient (the fast path delivery uses, here used once)."""
    return html_template(rendered.html).fill(values), text_template(rendered.text).fill(values)


def sample_message(rendered: RenderedMailing, sender: Sender,
                   values: dict[str, str]) -> EmailMessage:
    """A complete multipart/alternative message (text first, then HTML) for ``values``."""
    html, text = personalise(rendered, values)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender.formatted()
    msg["To"] = formataddr((values.get("name", ""), values["email"]))
    msg["Subject"] = rendered.subject  # the SMTP policy encodes non-ASCII (RFC 2047)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.domain)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    # After the content: set_content drops every Content-* header set before it.
    msg["Content-Language"] = rendered.language
    return msg
