"""The short mails a person's own action causes: confirm a subscription, welcome, "already".

Each is rendered once into a ``RenderedMailing`` (subject, text, HTML in the person's
language, with their signed links written in) and planned as a one-recipient
``confirmation`` mailing in the caller's transaction, beside the database write that
caused it. The worker (``mailer worker``, or the loop in ``mailer serve``) delivers it
through the SMTP pool and its rate limit; headers (Auto-Submitted, Content-Language, …)
come from ``mailer.delivery.message`` like for every other mailing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.orm import Session

from mailer.render.i18n import N_, Translator
from mailer.render.types import RenderedMailing
from mailer.services.brands import Signature
from mailer.services.mailings import PlannedRecipient, plan_mailing
from mailer.store.models import Mailing, MailingKind
from mailer.store.subscriptions import SubscribeOutcome

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates" / "mail"
CONFIRM_DAYS = 7
LANGUAGES = ("sv", "en")

# auto_reload off: the templates ship with the package; no stat() of the file per mail
# (each one a system call inside the sign-up's write transaction).
mail_env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                   autoescape=select_autoescape(enabled_extensions=("html.j2",)),
                   keep_trailing_newline=True, auto_reload=False)

_TEMPLATE = {
    SubscribeOutcome.pending: "confirm",
    SubscribeOutcome.activated: "welcome",
    SubscribeOutcome.already_active: "already",
}


def gettext(language: str) -> Callable[..., str]:
    """``_("Hello %(name)s", name=x)`` in ``language``: translate, then fill named values."""
    tr = Translator(language if language in LANGUAGES else "sv")

    def _(message: str, **values: object) -> str:
        text = tr.gettext(message)
        return text % values if values else text

    return _


@dataclass(frozen=True, slots=True)
class SubscriptionNotice:
    """What the mail says: in which language, about which list, with which links."""

    language: str
    list_name: str
    outcome: SubscribeOutcome
    link: str  # confirm link, or the preferences link for "welcome"/"already"
    unsubscribe_url: str = ""


#: What each notice is called on the admin's list of mailings and in ``mailer mailings``
#: (never the address: see ``plan_notice``), in the notice's language.
_NAME = {
    SubscribeOutcome.pending: N_("%(list)s: confirmation link"),
    SubscribeOutcome.activated: N_("%(list)s: welcome"),
    SubscribeOutcome.already_active: N_("%(list)s: already subscribed"),
}


def notice_name(notice: SubscriptionNotice, list_slug: str) -> str:
    """The mailing's name: "medborgardialog: bekräftelselänk", not "pending: …"."""
    return gettext(notice.language)(_NAME[notice.outcome], list=list_slug)


def render_subscription_notice(notice: SubscriptionNotice, *, sender: str) -> RenderedMailing:
    """The notice as text and HTML (``sender``: the name that signs it)."""
    kind = _TEMPLATE[notice.outcome]
    _ = gettext(notice.language)
    ctx = {"_": _, "lang": notice.language, "list_name": notice.list_name,
           "link": notice.link, "days": CONFIRM_DAYS,
           "unsubscribe_url": notice.unsubscribe_url, "sender": sender}
    subject = {
        "confirm": _("Confirm your subscription to %(list)s", list=notice.list_name),
        "welcome": _("Welcome to %(list)s", list=notice.list_name),
        "already": _("You already subscribe to %(list)s", list=notice.list_name),
    }[kind]
    return RenderedMailing(
        subject=subject,
        text=mail_env.get_template(f"{kind}.txt.j2").render(ctx),
        html=mail_env.get_template(f"{kind}.html.j2").render(ctx),
        language=notice.language if notice.language in LANGUAGES else "sv")


def plan_notice(session: Session, rendered: RenderedMailing, *, name: str, email: str,
                subscriber_id: int | None, now: datetime,
                signature: Signature | None = None,
                suppression_checked: bool = False) -> Mailing:
    """Queue ``rendered`` for one person as a ``confirmation`` mailing (in ``session``).

    ``name`` is what ``mailer mailings`` shows: never the address (it is in the outbox row,
    which erasure removes). ``suppression_checked``: the caller found ``email`` not
    suppressed in this transaction (a sign-up), so it is not looked up again.
    """
    mailing, _n = plan_mailing(
        session, rendered, kind=MailingKind.confirmation, now=now, name=name,
        recipients=[PlannedRecipient(email=email, subscriber_id=subscriber_id)],
        signature=signature, suppressions_checked=suppression_checked)
    return mailing
