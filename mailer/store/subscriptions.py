"""Subscriptions as the subscriber changes them: subscribe, confirm, unsubscribe, preferences.

Every change of consent writes one ``ConsentEvent`` row (time, IP, list, source and the
exact wording the person was shown), in the same transaction as the change itself, so the
log and the state can never disagree. Callers pass ``now``; nothing here reads the clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, insert, literal, select, update
from sqlalchemy.orm import QueryableAttribute, Session, joinedload

from mailer.domain.addresses import (
    HASH_SALT,
    AddressError,
    email_hash,
    email_key,
    normalise_address,
)
from mailer.domain.findings import msg
from mailer.domain.organisations import canonical
from mailer.domain.subscriber_rows import guess_org_kind, organisation_key
from mailer.domain.text import clean_line
from mailer.errors import MailerError, message_of
from mailer.store import webhooks
from mailer.store.models import (
    ConsentEvent,
    MailingList,
    Organisation,
    OrgKind,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    WebhookEndpoint,
)

MAX_EMAIL = 320
MAX_NAME = 200
LANGUAGES = ("sv", "en")


class InvalidEmail(MailerError):
    """An e-mail address that cannot be used (syntax, length)."""


class SubscribeOutcome(enum.StrEnum):
    """What ``subscribe`` did; decides which (harmless) e-mail the person gets."""

    pending = "pending"  # double opt-in: unconfirmed, a confirmation link must be sent
    activated = "activated"  # single opt-in: active now, a welcome mail is sent
    already_active = "already_active"  # nothing changed; an "already subscribed" note
    # the address is suppressed: the sign-up waits unconfirmed and no mail goes out; the
    # attempt is noted on the suppression (the visitor sees the usual page)
    suppressed = "suppressed"


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    subscriber_id: int | None  # None: nothing was stored (an erased, suppressed address)
    list_id: int
    outcome: SubscribeOutcome


def normalise_email(raw: str) -> str:
    """The address as we store it (see ``mailer.domain.addresses``), or InvalidEmail."""
    value = raw.strip()
    if len(value) > MAX_EMAIL or "\r" in value or "\n" in value:
        raise InvalidEmail(msg("the e-mail address is too long or spans several lines"))
    try:
        return normalise_address(value).email
    except AddressError as exc:
        raise InvalidEmail(msg("%(email)r is not a valid e-mail address: %(why)s",
                               email=value, why=message_of(exc))) from None


def find_by_email(session: Session, email: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email_key == email_key(email)))


def _log(session: Session, subscriber: Subscriber, list_id: int | None, action: str, *,
         now: datetime, ip: str | None, source: str, wording: str = "") -> None:
    session.add(ConsentEvent(subscriber_id=subscriber.id, list_id=list_id,
                             email_hash=email_hash(subscriber.email_key), action=action,
                             source=source[:200], ip=(ip or None) and ip[:45],
                             wording=wording, at=now))


def get_subscription(session: Session, subscriber_id: int, list_id: int) -> Subscription | None:
    return session.scalar(select(Subscription).where(
        Subscription.subscriber_id == subscriber_id, Subscription.list_id == list_id))


def subscribe(session: Session, email: str, list_id: int, *, double_opt_in: bool,
              now: datetime, ip: str | None, wording: str, language: str = "sv",
              name: str = "", source: str = "form",
              confirm_first: bool = False) -> SubscribeResult:
    """Sign ``email`` up for a list from a form (or the API).

    New addresses become a subscriber. On a double opt-in list the subscription is (or
    stays) ``unconfirmed`` until the link in the confirmation mail is followed; on a single
    opt-in list it is ``active`` at once. An active subscription is left alone, and the
    name of an existing subscriber is never overwritten from a public form (anyone can type
    anyone's address there). ``confirm_first`` keeps it unconfirmed on a single opt-in
    list too (a suppressed address: only a confirmation link may activate it).
    The caller read the list (``list_id``, ``double_opt_in``); a new address costs no
    look-up of its subscriptions.
    """
    address = normalise_email(email)
    subscriber = find_by_email(session, address)
    sub = None
    if subscriber is None:
        subscriber = Subscriber(email=address, email_key=email_key(address),
                                name=name.strip()[:MAX_NAME],
                                language=language if language in LANGUAGES else "sv",
                                created_at=now, updated_at=now)
        session.add(subscriber)
        session.flush()
    else:
        sub = get_subscription(session, subscriber.id, list_id)
    if sub is not None and sub.status == SubscriptionStatus.active:
        return SubscribeResult(subscriber.id, list_id, SubscribeOutcome.already_active)
    if sub is None:
        sub = Subscription(subscriber_id=subscriber.id, list_id=list_id,
                           source=source, created_at=now)
        session.add(sub)
    _log(session, subscriber, list_id, "subscribe", now=now, ip=ip, source=source,
         wording=wording)
    if double_opt_in or confirm_first:
        sub.status = SubscriptionStatus.unconfirmed
        outcome = SubscribeOutcome.pending
    else:
        _activate(sub, now)
        outcome = SubscribeOutcome.activated
    sub.updated_at = now
    session.flush()
    if outcome is SubscribeOutcome.activated:  # single opt-in: active without a link
        webhooks.subscription_changed(session, "subscriber.confirmed", subscriber, [list_id],
                                      source=source, now=now)
    return SubscribeResult(subscriber.id, list_id, outcome)


def _activate(sub: Subscription, now: datetime) -> None:
    sub.status = SubscriptionStatus.active
    sub.confirmed_at = now
    sub.unsubscribed_at = None
    sub.updated_at = now


def confirm(session: Session, subscriber_id: int, list_id: int, *, now: datetime,
            ip: str | None, wording: str) -> Subscription | None:
    """Activate a subscription from its confirmation link; None if there is nothing to confirm.

    Confirming twice is harmless (no second log row). A subscription the person ended
    after asking for it is not revived by an old confirmation link.
    """
    subscriber = session.get(Subscriber, subscriber_id)
    sub = get_subscription(session, subscriber_id, list_id)
    if subscriber is None or sub is None or sub.status == SubscriptionStatus.unsubscribed:
        return None
    if sub.status == SubscriptionStatus.unconfirmed:
        _activate(sub, now)
        _log(session, subscriber, list_id, "confirm", now=now, ip=ip, source="confirm-link",
             wording=wording)
        session.flush()
        webhooks.subscription_changed(session, "subscriber.confirmed", subscriber, [list_id],
                                      source="confirm-link", now=now)
    return sub


def person_and_list(session: Session, subscriber_id: int, list_id: int
                    ) -> tuple[Subscriber | None, MailingList | None]:
    """The person (with their organisation) and the list ``list_id`` (0: none) in one
    statement; (None, None) when either is gone."""
    who = (select(Subscriber).options(joinedload(Subscriber.organisation))
           .where(Subscriber.id == subscriber_id))
    if not list_id:
        return session.scalar(who), None
    row = session.execute(who.add_columns(MailingList)
                          .join(MailingList, MailingList.id == list_id)).first()
    return (row[0], row[1]) if row is not None else (None, None)


def unsubscribe_by_token(session: Session, subscriber_id: int, list_id: int, *,
                         now: datetime, ip: str | None, source: str) -> int:
    """What a signed unsubscribe token asks for (list 0: every list); returns how many
    subscriptions ended (0 for an erased subscriber or one already unsubscribed)."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return 0
    lists = None if list_id == 0 else [list_id]
    return len(unsubscribe(session, subscriber, lists, now=now, ip=ip, source=source))


def unsubscribe(session: Session, subscriber: Subscriber, list_ids: Iterable[int] | None, *,
                now: datetime, ip: str | None, source: str) -> list[int]:
    """End subscriptions (``list_ids=None``: every list); returns the lists whose
    subscription changed. One UPDATE … RETURNING (not a SELECT, then an UPDATE per row):
    the one-click unsubscribe holds SQLite's write lock for as few statements as it can."""
    stmt = (update(Subscription)
            .where(Subscription.subscriber_id == subscriber.id,
                   Subscription.status != SubscriptionStatus.unsubscribed)
            .values(status=SubscriptionStatus.unsubscribed, unsubscribed_at=now,
                    updated_at=now)
            .returning(Subscription.list_id))
    if list_ids is not None:
        stmt = stmt.where(Subscription.list_id.in_(list(list_ids)))
    changed = sorted(session.scalars(stmt))
    for list_id in changed:
        _log(session, subscriber, list_id, "unsubscribe", now=now, ip=ip, source=source)
    session.flush()
    webhooks.subscription_changed(session, "subscriber.unsubscribed", subscriber, changed,
                                  source=source, now=now)
    return changed


def unsubscribe_and_load(session: Session, subscriber_id: int, list_id: int, *,
                         now: datetime, ip: str | None, source: str
                         ) -> tuple[Subscriber | None, MailingList | None]:
    """What a signed unsubscribe link asks (list 0: every list), and the person (with their
    organisation) and the list for the page after; (None, None) when either is gone and
    then nothing changed. The one-click's one short transaction: on PostgreSQL one
    statement (``unsubscribe_in_one_statement``), on SQLite three (the person with the
    list, one ``UPDATE … RETURNING``, the consent log) while it holds the write lock."""
    if session.get_bind().dialect.name == "postgresql":
        person, lst, _ = unsubscribe_in_one_statement(session, subscriber_id, list_id,
                                                      now=now, ip=ip, source=source)
        return person, lst
    person, lst = person_and_list(session, subscriber_id, list_id)
    if person is not None:
        unsubscribe(session, person, [list_id] if list_id else None, now=now, ip=ip,
                    source=source)
    return person, lst


def sql_email_hash(key: QueryableAttribute[str] | ColumnElement[str]) -> ColumnElement[str]:
    """``email_hash(key)`` computed by PostgreSQL (hex SHA-256 of the salt and the key's
    UTF-8 bytes), for a statement that logs consent without a round trip for the key;
    tests/test_store_one_click.py checks it against ``email_hash``."""
    salted = literal(HASH_SALT.decode("ascii")).concat(key)
    return func.encode(func.sha256(func.convert_to(salted, "UTF8")), "hex")


def unsubscribe_in_one_statement(session: Session, subscriber_id: int, list_id: int, *,
                                 now: datetime, ip: str | None, source: str
                                 ) -> tuple[Subscriber | None, MailingList | None, list[int]]:
    """``person_and_list`` and ``unsubscribe`` as one statement (PostgreSQL only: an
    ``UPDATE … RETURNING`` and the consent log's ``INSERT`` in ``WITH``): the one-click's
    transaction is then BEGIN, this, COMMIT, a round trip each, where each round trip
    under load waits for the CPUs and the GIL again (issue 13). Returns the person (None:
    erased, or the list ``list_id`` is gone), the list (None for list 0) and the lists
    whose subscription ended; the webhook event, when an endpoint exists, as ``unsubscribe``
    does, in the same transaction."""
    ended = (update(Subscription)
             .where(Subscription.subscriber_id == subscriber_id,
                    Subscription.status != SubscriptionStatus.unsubscribed)
             .values(status=SubscriptionStatus.unsubscribed, unsubscribed_at=now,
                     updated_at=now)
             .returning(Subscription.list_id))
    if list_id:
        ended = ended.where(Subscription.list_id == list_id)
    changed = ended.cte("changed")
    logged = insert(ConsentEvent).from_select(
        ["subscriber_id", "list_id", "email_hash", "action", "source", "ip", "wording", "at"],
        select(literal(subscriber_id), changed.c.list_id, sql_email_hash(Subscriber.email_key),
               literal("unsubscribe"), literal(source[:200]),
               literal((ip or None) and ip[:45]), literal(""), literal(now))
        .select_from(changed).join(Subscriber, Subscriber.id == subscriber_id)
        .order_by(changed.c.list_id)).cte("logged")
    ended_ids = select(func.array_agg(changed.c.list_id)).scalar_subquery()
    hooks = exists().where(WebhookEndpoint.id.is_not(None))
    who = (select(Subscriber).options(joinedload(Subscriber.organisation))
           .where(Subscriber.id == subscriber_id))
    if list_id:
        who = who.add_columns(MailingList).join(MailingList, MailingList.id == list_id)
    row = session.execute(who.add_columns(ended_ids, hooks).add_cte(logged)).first()
    if row is None:
        return None, None, []
    person, lst = row[0], (row[1] if list_id else None)
    changed_ids = sorted(row[-2] or [])
    if changed_ids and row[-1]:
        webhooks.subscription_changed(session, "subscriber.unsubscribed", person, changed_ids,
                                      source=source, now=now)
    return person, lst, changed_ids


def resubscribe(session: Session, subscriber: Subscriber, list_id: int, *, now: datetime,
                ip: str | None, source: str, wording: str) -> Subscription:
    """Make a subscription active again from a signed link (the undo after unsubscribing).

    The signed link proves the person controls the mailbox, so no confirmation mail.
    """
    sub = get_subscription(session, subscriber.id, list_id)
    if sub is None:
        sub = Subscription(subscriber_id=subscriber.id, list_id=list_id, source=source,
                           created_at=now)
        session.add(sub)
    if sub.status != SubscriptionStatus.active:
        _activate(sub, now)
        _log(session, subscriber, list_id, "subscribe", now=now, ip=ip, source=source,
             wording=wording)
        session.flush()
        webhooks.subscription_changed(session, "subscriber.confirmed", subscriber, [list_id],
                                      source=source, now=now)
    session.flush()
    return sub


@dataclass(frozen=True, slots=True)
class ListChoice:
    """One list on the preferences page: may be chosen, and whether it is chosen now."""

    list_id: int
    slug: str
    name: str
    description: str
    status: SubscriptionStatus | None


def list_choices(session: Session, subscriber: Subscriber) -> list[ListChoice]:
    """Public lists plus any private list the person is on (never other private lists)."""
    subs = {s.list_id: s.status for s in session.scalars(
        select(Subscription).where(Subscription.subscriber_id == subscriber.id))}
    lists = session.scalars(select(MailingList).order_by(MailingList.name, MailingList.id))
    return [ListChoice(lst.id, lst.slug, lst.name, lst.description,
                       SubscriptionStatus(subs[lst.id]) if lst.id in subs else None)
            for lst in lists if lst.public or lst.id in subs]


def unconfirmed_lists(session: Session, subscriber_id: int,
                      since: datetime) -> list[MailingList]:
    """The lists the person signed up for (again) at ``since`` or later and has not
    confirmed yet."""
    return list(session.scalars(
        select(MailingList).join(Subscription, Subscription.list_id == MailingList.id)
        .where(Subscription.subscriber_id == subscriber_id,
               Subscription.status == SubscriptionStatus.unconfirmed,
               Subscription.updated_at >= since)
        .order_by(MailingList.id)))


def find_or_create_organisation(session: Session, name: str, *, now: datetime) -> Organisation:
    """The organisation called ``name`` (case-insensitively), created if new."""
    clean = canonical(clean_line(name))[:MAX_NAME]
    key = organisation_key(clean)
    org = session.scalar(select(Organisation).where(Organisation.name_key == key))
    if org is None:
        org = Organisation(name=clean, name_key=key, kind=OrgKind(guess_org_kind(clean)),
                           created_at=now)
        session.add(org)
        session.flush()
    return org


@dataclass(frozen=True, slots=True)
class Preferences:
    """What the preferences form sets; ``list_ids`` are the lists to be on, all others off."""

    list_ids: frozenset[int]
    language: str
    name: str
    organisation: str


def set_preferences(session: Session, subscriber: Subscriber, prefs: Preferences, *,
                    now: datetime, ip: str | None, wordings: dict[int, str]) -> None:
    """Apply the preferences form: lists on and off, language, name and organisation.

    ``wordings`` holds, per list id, the text shown beside that list's checkbox; it goes
    into the consent log for lists switched on. A list not chosen ends only an active
    subscription; an unconfirmed one stays waiting for its link (ticking it activates it:
    the preferences link proves the mailbox). Lists the person may not choose (private
    lists they are not on) raise MailerError: the form never offers them.
    """
    if prefs.language not in LANGUAGES:
        raise MailerError(f"language must be one of {', '.join(LANGUAGES)}")
    allowed = {c.list_id: c for c in list_choices(session, subscriber)}
    unknown = prefs.list_ids - allowed.keys()
    if unknown:
        raise MailerError("a chosen list does not exist or is not open for subscription")
    for list_id, choice in allowed.items():
        on = choice.status == SubscriptionStatus.active
        if list_id in prefs.list_ids and not on:
            resubscribe(session, subscriber, list_id, now=now, ip=ip, source="preferences",
                        wording=wordings.get(list_id, ""))
        elif list_id not in prefs.list_ids and on:
            # Only a box that was ticked (an active subscription) can be unticked: a sign-up
            # still waiting for its confirmation link shows unticked, and saving the page
            # for another reason must not end it (nor log an unsubscribe nobody asked for).
            unsubscribe(session, subscriber, [list_id], now=now, ip=ip, source="preferences")
    subscriber.language = prefs.language
    subscriber.name = clean_line(prefs.name)[:MAX_NAME]
    org_name = clean_line(prefs.organisation)
    subscriber.organisation_id = (
        find_or_create_organisation(session, org_name, now=now).id if org_name else None)
    subscriber.updated_at = now
    session.flush()
    session.expire(subscriber, ["organisation"])


def public_list(session: Session, slug: str) -> MailingList | None:
    """The public list called ``slug`` (None for a private or unknown one)."""
    return session.scalar(select(MailingList).where(MailingList.slug == slug[:64],
                                                    MailingList.public.is_(True)))


def public_lists(session: Session) -> list[MailingList]:
    """Every public list, by name."""
    return list(session.scalars(
        select(MailingList).where(MailingList.public.is_(True)).order_by(MailingList.name)))


def public_list_slugs(session: Session) -> set[str]:
    return set(session.scalars(select(MailingList.slug).where(MailingList.public.is_(True))))
