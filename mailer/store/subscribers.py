"""Subscribers: find one, everything we hold on them (GDPR access), erase them, export a list.

Later areas that store data about a person (outbox, registrations, …) add it to the
access report with ``@personal_data_section("name")`` and clean up on erasure with
``@on_erase``; both run in the caller's session.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TextIO

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from mailer.domain.addresses import email_hash, email_key
from mailer.domain.findings import msg
from mailer.domain.spreadsheet import SafeCsvWriter
from mailer.errors import MailerError
from mailer.store.lists import get_list
from mailer.store.models import (
    ConsentEvent,
    Mailing,
    MailingList,
    Organisation,
    OutboxRow,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from mailer.typing import JSON, JSONValue

Section = Callable[[Session, Subscriber], JSONValue]
PERSONAL_DATA_SECTIONS: dict[str, Section] = {}
ERASERS: list[Callable[[Session, Subscriber], None]] = []


def personal_data_section(name: str) -> Callable[[Section], Section]:
    """Register ``fn(session, subscriber) -> JSON-able`` as a section of the access report."""
    def register(fn: Section) -> Section:
        PERSONAL_DATA_SECTIONS[name] = fn
        return fn
    return register


def on_erase(fn: Callable[[Session, Subscriber], None]) -> Callable[[Session, Subscriber], None]:
    """Register ``fn(session, subscriber)`` to run before a subscriber is erased."""
    ERASERS.append(fn)
    return fn


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this address, compared case-insensitively; None if unknown."""
    return session.scalar(select(Subscriber).where(Subscriber.email_key == email_key(email)))


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def personal_data(session: Session, subscriber: Subscriber) -> JSON:
    """Everything we hold on ``subscriber``, JSON-able, for a GDPR request for access."""
    org = subscriber.organisation
    subs = session.execute(
        select(Subscription, MailingList.slug, MailingList.name)
        .join(MailingList, MailingList.id == Subscription.list_id)
        .where(Subscription.subscriber_id == subscriber.id)
        .order_by(MailingList.slug)).all()
    events = session.execute(
        select(ConsentEvent, MailingList.slug)
        .outerjoin(MailingList, MailingList.id == ConsentEvent.list_id)
        .where(or_(ConsentEvent.subscriber_id == subscriber.id,
                   ConsentEvent.email_hash == email_hash(subscriber.email_key)))
        .order_by(ConsentEvent.at, ConsentEvent.id)).all()
    data: JSON = {
        "subscriber": {
            "id": subscriber.id,
            "email": subscriber.email,
            "name": subscriber.name,
            "role": subscriber.role,
            "language": subscriber.language,
            "attributes": dict(subscriber.attributes or {}),
            "created_at": _iso(subscriber.created_at),
            "updated_at": _iso(subscriber.updated_at),
        },
        "organisation": None if org is None else {
            "name": org.name, "kind": str(org.kind), "code": org.code,
        },
        "subscriptions": [
            {"list": slug, "list_name": name, "status": str(s.status), "source": s.source,
             "created_at": _iso(s.created_at), "confirmed_at": _iso(s.confirmed_at),
             "unsubscribed_at": _iso(s.unsubscribed_at), "updated_at": _iso(s.updated_at)}
            for s, slug, name in subs
        ],
        "consent_events": [
            {"action": e.action, "list": slug, "source": e.source, "ip": e.ip,
             "wording": e.wording, "at": _iso(e.at)}
            for e, slug in events
        ],
    }
    deliveries = session.execute(
        select(OutboxRow, Mailing.name, Mailing.kind)
        .join(Mailing, Mailing.id == OutboxRow.mailing_id)
        .where(or_(OutboxRow.subscriber_id == subscriber.id,
                   OutboxRow.email_key == subscriber.email_key))
        .order_by(OutboxRow.id)).all()
    data["deliveries"] = [
        {"mailing": name, "kind": str(kind), "address": row.email, "status": str(row.status),
         "attempts": row.attempts, "last_reply": row.last_reply,
         "created_at": _iso(row.created_at), "sent_at": _iso(row.sent_at)}
        for row, name, kind in deliveries
    ]
    for name, section in PERSONAL_DATA_SECTIONS.items():
        data[name] = section(session, subscriber)
    return data


def erase_subscriber(session: Session, subscriber: Subscriber, *, source: str = "admin") -> None:
    """Erase ``subscriber`` and their subscriptions (GDPR right to erasure).

    The consent log keeps its rows, with ``subscriber_id`` and ``ip`` cleared and only the
    address hash left, and gains an ``erase`` row: proof of consent for mail already sent
    and of the erasure, without the address. The importer refuses to add back an address
    whose hash has an ``erase`` row.
    """
    for eraser in ERASERS:
        eraser(session, subscriber)
    # Outbox rows hold the address: the subscriber's own (an address changed since
    # planning included) and those planned by address alone (web confirmations queued
    # for retry, tests). The outbox has no foreign key to cascade (migration 0015).
    session.execute(delete(OutboxRow).where(or_(OutboxRow.subscriber_id == subscriber.id,
                                                OutboxRow.email_key == subscriber.email_key))
                    .execution_options(synchronize_session=False))
    key_hash = email_hash(subscriber.email_key)
    session.execute(update(ConsentEvent)
                    .where(ConsentEvent.subscriber_id == subscriber.id)
                    .values(subscriber_id=None, ip=None))
    session.add(ConsentEvent(subscriber_id=None, list_id=None, email_hash=key_hash,
                             action="erase", source=source, at=utcnow()))
    session.delete(subscriber)
    session.flush()


EXPORT_FIELDS = ["email", "name", "organisation", "code", "role", "language"]
EXPORT_META = ["status", "source", "subscribed_at", "confirmed_at", "unsubscribed_at"]
STATUSES = ("active", "unconfirmed", "unsubscribed", "all")


def export_subscribers(session: Session, list_slug: str, out: TextIO, *,
                       status: str = "active", excel: bool = False,
                       tz: tzinfo | None = None) -> int:
    """Write the list's subscribers with ``status`` as CSV to ``out``; return how many.

    Columns: email, name, organisation, code, role, language, one per attribute, then the
    subscription's status, source and times (which ``import`` ignores), so an export can be
    imported again. Streamed: two passes over the rows, the first only for attribute names.
    """
    if status not in STATUSES:
        raise MailerError(msg("status %(value)r cannot be exported; choose one of "
                              "%(choices)s", value=status, choices=", ".join(STATUSES)),
                          field="status")
    lst = get_list(session, list_slug)
    where = [Subscription.list_id == lst.id]
    if status != "all":
        where.append(Subscription.status == SubscriptionStatus(status))
    conn = session.connection().execution_options(stream_results=True, yield_per=2000)
    attr_names: set[str] = set()
    for (attrs,) in conn.execute(select(Subscriber.attributes).join(
            Subscription, Subscription.subscriber_id == Subscriber.id).where(*where)):
        attr_names.update(attrs or {})
    attrs_sorted = sorted(attr_names - set(EXPORT_FIELDS) - set(EXPORT_META))
    writer = SafeCsvWriter(out, delimiter=";" if excel else ",",
                           lineterminator="\r\n" if excel else "\n")
    writer.writerow([*EXPORT_FIELDS, *attrs_sorted, *EXPORT_META])

    def when(value: datetime | None) -> str:
        if value is None:
            return ""
        return (value.astimezone(tz) if tz else value).isoformat(timespec="seconds")

    query = (select(Subscriber.email, Subscriber.name, Organisation.name, Organisation.code,
                    Subscriber.role, Subscriber.language, Subscriber.attributes,
                    Subscription.status, Subscription.source, Subscription.created_at,
                    Subscription.confirmed_at, Subscription.unsubscribed_at)
             .join(Subscription, Subscription.subscriber_id == Subscriber.id)
             .outerjoin(Organisation, Organisation.id == Subscriber.organisation_id)
             .where(*where).order_by(Subscriber.email_key))
    n = 0
    for (email, name, org, code, role, language, attrs, st, source, created, confirmed,
         unsubscribed) in conn.execute(query):
        attrs = attrs or {}
        writer.writerow([email, name, org or "", code or "", role, language,
                         *(attrs.get(a, "") for a in attrs_sorted),
                         str(st), source, when(created), when(confirmed), when(unsubscribed)])
        n += 1
    return n
