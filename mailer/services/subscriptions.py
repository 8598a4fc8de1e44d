"""Subscription use cases: subscribe (with its confirmation mail), confirm, preferences,
unsubscribe (web form, RFC 8058 one-click, mailto token), yearly re-confirmation answers,
and the GDPR access report and erasure.

Each function is one transaction's work on the caller's ``Session``; the edges (web
routes, API, CLI) open it, parse their input before and present the result after.
The mail a sign-up causes is planned here, in the same transaction as the sign-up, as a
``confirmation`` mailing (see ``mailer.services.notifications``): nothing is sent from a
web request, and a crash or an SMTP outage after the commit loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import TextIO

from sqlalchemy.orm import Session

from mailer.config import Sender, Settings
from mailer.domain.findings import msg
from mailer.errors import MailerError, NotFound
from mailer.invitation_files import load_invitation
from mailer.links import Links
from mailer.services.brands import list_signature
from mailer.services.notifications import (
    SubscriptionNotice,
    notice_name,
    plan_notice,
    render_subscription_notice,
)
from mailer.store import clicks as _clicks  # noqa: F401 (registers its data-report section and eraser)
from mailer.store import search
from mailer.store import subscribers as people
from mailer.store import subscriptions as subs
from mailer.store import suppressions as suppressed  # (also registers its eraser)
from mailer.store.lists import get_list
from mailer.store.mailings import latest_brand
from mailer.store.models import (
    InvitationRow,
    MailingList,
    ReconfirmAnswer,
    Subscriber,
    SubscriptionStatus,
    SuppressionReason,
)
from mailer.store.reconfirmations import get_reconfirmation, record_reconfirmation
from mailer.store.subscribers import STATUSES
from mailer.store.subscriptions import (
    MAX_NAME,
    InvalidEmail,
    ListChoice,
    Preferences,
    SubscribeOutcome,
    SubscribeResult,
    normalise_email,
)
from mailer.typing import JSON

__all__ = [
    "STATUSES", "MAX_NAME", "InvalidEmail", "ListChoice", "Preferences", "SubscribeOutcome",
    "SubscribeResult", "normalise_email", "ListInfo", "SubscriberInfo", "Pending", "Prefs",
    "Target", "Question", "WrongLink", "NotAsked", "list_info", "public_list", "public_lists",
    "public_list_slugs", "subscribe", "pending_confirmation", "confirm", "preferences",
    "save_preferences", "unsubscribe_everywhere", "unsubscribe_target",
    "unsubscribe_by_token", "undo_unsubscribe", "reconfirm_question",
    "answer_reconfirmation", "access_report", "erase", "find_person", "erase_preview",
    "erase_by_email", "export_list", "search_subscribers", "send_waiting_confirmations",
]


# -- what the edges show -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ListInfo:
    id: int
    slug: str
    name: str
    description: str
    public: bool
    double_opt_in: bool
    language: str
    brand: str = ""  # its newsletter's [brands.<name>] ("" = the workspace's [brand])

    @classmethod
    def of(cls, lst: MailingList) -> ListInfo:
        return cls(lst.id, lst.slug, lst.name, lst.description, lst.public,
                   lst.double_opt_in, lst.language, lst.brand)


@dataclass(frozen=True, slots=True)
class SubscriberInfo:
    id: int
    email: str
    name: str
    organisation: str
    language: str

    @classmethod
    def of(cls, s: Subscriber) -> SubscriberInfo:
        return cls(s.id, s.email, s.name, s.organisation.name if s.organisation else "",
                   s.language)

    @property
    def masked_email(self) -> str:
        """``an…@hylte.se``: enough to recognise your own address, not to harvest it."""
        local, _, domain = self.email.partition("@")
        return f"{local[:2]}…@{domain}"


def _subscriber(session: Session, subscriber_id: int) -> Subscriber:
    person = session.get(Subscriber, subscriber_id)
    if person is None:
        raise NotFound(msg("no such subscriber (erased, or the link is wrong)"))
    return person


def _list(session: Session, list_id: int) -> MailingList:
    lst = session.get(MailingList, list_id)
    if lst is None:
        raise NotFound(f"no list with id {list_id}")
    return lst


# -- lists open for sign-up ---------------------------------------------------------------

def list_info(session: Session, slug: str) -> ListInfo:
    """Any list by slug (NotFound names the known ones)."""
    return ListInfo.of(get_list(session, slug))


def public_list(session: Session, slug: str) -> ListInfo | None:
    lst = subs.public_list(session, slug)
    return ListInfo.of(lst) if lst else None


def public_lists(session: Session) -> list[ListInfo]:
    return [ListInfo.of(x) for x in subs.public_lists(session)]


def public_list_slugs(session: Session) -> set[str]:
    return subs.public_list_slugs(session)


# -- subscribe and confirm ----------------------------------------------------------------

def subscribe(session: Session, links: Links, *, lst: ListInfo, email: str, now: datetime,
              ip: str | None, wording: str, language: str, name: str = "",
              source: str = "form", notify: bool = True,
              sender: Sender | None = None,
              settings: Settings | None = None) -> SubscribeResult:
    """Sign ``email`` up for the list ``lst`` and, with ``notify``, plan the mail it gets.

    The mail depends on the outcome: a confirmation link (double opt-in), a welcome
    (single opt-in) or an "already subscribed" note; the page that answers is the same
    for all three. ``notify=False`` (a per-address rate limit was hit) records the sign-up
    without a mail. ``sender`` signs the mail (its name, else its address); with
    ``settings`` the list's newsletter (brand) signs it and sends it with its From and
    Reply-To.

    A suppressed address (it bounced, complained, was suppressed by hand) gets no mail:
    the sign-up is kept unconfirmed, the attempt is counted on the suppression for the
    admin to see, and lifting the suppression sends the confirmation link
    (``send_waiting_confirmations``). An address suppressed with an erasure request is
    not stored again at all. The edges show the same page either way.

    The edges read ``lst`` before (for the page and the consent wording); this is one
    short write transaction of a few statements (issue 13: on SQLite every sign-up holds
    the one write lock that a one-click unsubscribe waits for).
    """
    address = normalise_email(email)
    block = suppressed.note_signup(session, address, now=now,
                                   note=f"{source.partition(':')[0]}: {lst.slug}")
    if block is not None:
        if block.reason is SuppressionReason.erased:
            return SubscribeResult(None, lst.id, SubscribeOutcome.suppressed)
        result = subs.subscribe(session, address, lst.id, double_opt_in=lst.double_opt_in,
                                now=now, ip=ip, wording=wording, language=language,
                                name=name, source=source, confirm_first=True)
        return SubscribeResult(result.subscriber_id, lst.id, SubscribeOutcome.suppressed)
    result = subs.subscribe(session, address, lst.id, double_opt_in=lst.double_opt_in,
                            now=now, ip=ip, wording=wording, language=language, name=name,
                            source=source)
    if notify and result.subscriber_id is not None:
        _notify(session, links, lst, result.subscriber_id, result.outcome,
                language=language, now=now, sender=sender, settings=settings,
                suppression_checked=True)  # note_signup above found none
    return result


def _notify(session: Session, links: Links, lst: ListInfo, sid: int,
            outcome: SubscribeOutcome, *, language: str, now: datetime,
            sender: Sender | None, settings: Settings | None,
            suppression_checked: bool = False) -> None:
    """Plan the one mail a sign-up causes (confirmation link, welcome or "already"),
    signed and sent as the list's newsletter when ``settings`` names its brand. It goes
    to the address we hold for ``sid``, as every other mail to them does (an existing
    subscriber may type it in other capitals); it is in ``language`` (the form's), and so
    are the pages its links open (an existing subscriber may hold another language)."""
    address = _subscriber(session, sid).email
    link = (links.confirm(sid, lst.id) if outcome == SubscribeOutcome.pending
            else links.preferences(sid))
    notice = SubscriptionNotice(
        language=language, list_name=lst.name, outcome=outcome,
        link=links.in_language(link, language),
        unsubscribe_url=links.in_language(links.unsubscribe(sid, lst.id), language))
    brand = list_signature(settings, lst.brand) if settings is not None else None
    plan_notice(session, render_subscription_notice(
                    notice, sender=brand.signed if brand else signature(sender)),
                name=notice_name(notice, lst.slug), email=address, subscriber_id=sid,
                now=now, signature=brand, suppression_checked=suppression_checked)


def send_waiting_confirmations(session: Session, links: Links, email: str, *,
                               since: datetime, now: datetime, sender: Sender | None,
                               settings: Settings | None = None) -> int:
    """Plan the confirmation link of every sign-up of ``email`` made at ``since`` or later
    (while it was suppressed) and still unconfirmed; returns how many were planned."""
    person = subs.find_by_email(session, email)
    if person is None:
        return 0
    waiting = subs.unconfirmed_lists(session, person.id, since)
    for lst in waiting:
        _notify(session, links, ListInfo.of(lst), person.id, SubscribeOutcome.pending,
                language=person.language, now=now, sender=sender, settings=settings)
    return len(waiting)


def signature(sender: Sender | None) -> str:
    return (sender.name or sender.address) if sender else ""


@dataclass(frozen=True, slots=True)
class Pending:
    lst: ListInfo
    status: SubscriptionStatus
    language: str


def pending_confirmation(session: Session, subscriber_id: int, list_id: int) -> Pending:
    """What a confirmation link points at; NotFound when it no longer exists."""
    person = _subscriber(session, subscriber_id)
    lst = _list(session, list_id)
    sub = subs.get_subscription(session, subscriber_id, list_id)
    if sub is None:
        raise NotFound("no such subscription")
    return Pending(ListInfo.of(lst), SubscriptionStatus(sub.status), person.language)


def confirm(session: Session, subscriber_id: int, list_id: int, *, now: datetime,
            ip: str | None, wording: str) -> bool:
    """Activate a subscription from its link; False when there is nothing to confirm
    (gone, or unsubscribed in between: an old link does not revive it)."""
    return subs.confirm(session, subscriber_id, list_id, now=now, ip=ip,
                        wording=wording) is not None


# -- preferences --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Prefs:
    subscriber: SubscriberInfo
    choices: list[ListChoice]

    @property
    def any_active(self) -> bool:
        return any(c.status not in (None, SubscriptionStatus.unsubscribed)
                   for c in self.choices)


def preferences(session: Session, subscriber_id: int) -> Prefs:
    person = _subscriber(session, subscriber_id)
    return Prefs(SubscriberInfo.of(person), subs.list_choices(session, person))


def save_preferences(session: Session, subscriber_id: int, prefs: Preferences, *,
                     now: datetime, ip: str | None, wordings: dict[int, str]) -> None:
    subs.set_preferences(session, _subscriber(session, subscriber_id), prefs, now=now, ip=ip,
                         wordings=wordings)


def unsubscribe_everywhere(session: Session, subscriber_id: int, *, now: datetime,
                           ip: str | None, source: str) -> int:
    """End every subscription of the person; returns how many ended."""
    return len(subs.unsubscribe(session, _subscriber(session, subscriber_id), None, now=now,
                                ip=ip, source=source))


# -- unsubscribe links (web page, one-click POST, mailto) -----------------------------------

@dataclass(frozen=True, slots=True)
class Target:
    subscriber: SubscriberInfo
    lst: ListInfo | None  # None: the link covers every list
    subscribed: bool


def unsubscribe_target(session: Session, subscriber_id: int, scope_id: int) -> Target:
    """Who and what an unsubscribe token covers (list 0: every list)."""
    person = _subscriber(session, subscriber_id)
    if scope_id == 0:
        subscribed = any(s.status != SubscriptionStatus.unsubscribed
                         for s in person.subscriptions)
        return Target(SubscriberInfo.of(person), None, subscribed)
    lst = _list(session, scope_id)
    sub = subs.get_subscription(session, person.id, lst.id)
    subscribed = sub is not None and sub.status != SubscriptionStatus.unsubscribed
    return Target(SubscriberInfo.of(person), ListInfo.of(lst), subscribed)


def unsubscribe_by_token(session: Session, subscriber_id: int, scope_id: int, *,
                         now: datetime, ip: str | None, source: str) -> int:
    """What a signed unsubscribe token asks for; how many subscriptions ended."""
    return subs.unsubscribe_by_token(session, subscriber_id, scope_id, now=now, ip=ip,
                                     source=source)


def unsubscribe_and_show(session: Session, subscriber_id: int, scope_id: int, *,
                         now: datetime, ip: str | None, source: str) -> Target | None:
    """Unsubscribe as the signed token asks and return what the page then shows (None: the
    person was erased, or the list is gone), in the caller's one transaction: one statement
    on PostgreSQL; on SQLite the one-click POST takes the write lock once, for three
    statements (the person with their organisation and the list, one UPDATE … RETURNING,
    the consent log) and, when something changed, the look-up of webhook endpoints
    (``store.subscriptions.unsubscribe_and_load``)."""
    person, lst = subs.unsubscribe_and_load(session, subscriber_id, scope_id, now=now, ip=ip,
                                            source=source)
    if person is None:
        return None
    return Target(SubscriberInfo.of(person), ListInfo.of(lst) if lst else None, False)


def undo_unsubscribe(session: Session, subscriber_id: int, list_id: int, *, now: datetime,
                     ip: str | None, source: str, wording: str) -> None:
    """Subscribe again right after unsubscribing by mistake (the signed link is proof)."""
    subs.resubscribe(session, _subscriber(session, subscriber_id), list_id, now=now, ip=ip,
                     source=source, wording=wording)


# -- yearly re-confirmation of a network ----------------------------------------------------

class WrongLink(MailerError):
    """The link's parts do not belong together (another invitation's slug)."""


class NotAsked(NotFound):
    """The person was not asked the re-confirmation question for that year."""


@dataclass(frozen=True, slots=True)
class Question:
    title: str
    year: int
    answer: str | None
    answer_by: date | None
    language: str
    email: str
    brand: str = ""  # the newsletter whose look the page wears: as the question's mail
    closed: bool = False  # the answer-by day has passed: the page takes no answer


def _question(session: Session, workspace: Path, timezone: str, slug: str, year: int,
              invitation_id: int, subscriber_id: int, now: datetime
              ) -> tuple[Question, InvitationRow, Subscriber]:
    inv = session.get(InvitationRow, invitation_id)
    if inv is None:
        raise NotFound(f"no invitation with id {invitation_id}")
    person = _subscriber(session, subscriber_id)
    if inv.slug != slug:
        raise WrongLink("the link's invitation does not match its path")
    rec = get_reconfirmation(session, inv.id, person.id, year)
    if rec is None:
        raise NotAsked(f"{slug}: no question for {year}")
    answer_by, closed = None, False
    try:
        doc = load_invitation(workspace, slug, timezone=timezone)
        if doc.period is not None:
            answer_by = doc.period.reconfirmation_answer_by(year)
            closed = now > doc.period.reconfirmation_closes(year, doc.tz)
    except MailerError:
        pass
    brand = latest_brand(session, f"invitation:{slug}:reconfirm:{year}") or ""
    q = Question(inv.title, year, rec.answer.value if rec.answer else None, answer_by,
                 person.language, person.email, brand, closed)
    return q, inv, person


def reconfirm_question(session: Session, *, workspace: Path, timezone: str, slug: str,
                       year: int, invitation_id: int, subscriber_id: int,
                       now: datetime) -> Question:
    """The "do you continue next year?" question behind a signed link."""
    return _question(session, workspace, timezone, slug, year, invitation_id,
                     subscriber_id, now)[0]


def answer_reconfirmation(session: Session, *, workspace: Path, timezone: str, slug: str,
                          year: int, invitation_id: int, subscriber_id: int,
                          answer: ReconfirmAnswer, now: datetime) -> Question:
    """Record the answer ("no" frees the seat); returns the question as answered. After
    the answer-by day nothing is recorded and the question comes back ``closed`` (a
    coordinator can still record a late answer: ``mailer reconfirm answer``)."""
    q, inv, person = _question(session, workspace, timezone, slug, year, invitation_id,
                               subscriber_id, now)
    if q.closed:
        return q
    record_reconfirmation(session, inv, person, year, answer, now=now, via="web")
    return Question(q.title, q.year, answer.value, q.answer_by, q.language, q.email,
                    q.brand)


# -- GDPR: access report, erasure, export --------------------------------------------------

def access_report(session: Session, subscriber_id: int) -> JSON:
    """Everything held on the person (GDPR articles 15 and 20), JSON-able."""
    return people.personal_data(session, _subscriber(session, subscriber_id))


def erase(session: Session, subscriber_id: int, *, source: str) -> bool:
    """Erase the person (GDPR article 17); False when there was no one to erase."""
    person = session.get(Subscriber, subscriber_id)
    if person is None:
        return False
    people.erase_subscriber(session, person, source=source)
    return True


def find_person(session: Session, email: str) -> Subscriber:
    person = people.find_subscriber(session, email)
    if person is None:
        raise NotFound(f"no subscriber with the address {email!r}")
    return person


def access_report_by_email(session: Session, email: str) -> JSON:
    return people.personal_data(session, find_person(session, email))


def erase_preview(session: Session, email: str) -> tuple[str, int]:
    """Who would be erased (``Name <address>``) and their number of subscriptions."""
    person = find_person(session, email)
    who = f"{person.name} <{person.email}>" if person.name else person.email
    return who, len(person.subscriptions)


def erase_by_email(session: Session, email: str, *, source: str = "admin") -> None:
    people.erase_subscriber(session, find_person(session, email), source=source)


def export_list(session: Session, list_slug: str, out: TextIO, *, status: str = "active",
                excel: bool = False, tz: tzinfo | None = None) -> int:
    """Write the list's subscribers as CSV (columns ``import`` reads back); how many."""
    return people.export_subscribers(session, list_slug, out, status=status, excel=excel,
                                     tz=tz)


def search_subscribers(session: Session, q: str = "", *, list_slug: str | None = None,
                       status: str | None = None, offset: int = 0, limit: int = 50,
                       after: str | None = None) -> search.Page:
    """Subscribers matching ``q`` (address, name, organisation), ordered by address; with
    ``after``, those whose address sorts after it (the previous page's last)."""
    return search.search_subscribers(session, q, list_slug=list_slug, status=status,
                                     offset=offset, limit=limit, after=after)
