"""Segment SQL: conditions as WHERE clauses, who matches (count and sample), saved segments.

Conditions (``mailer.domain.segments``) become SQL on ``subscribers`` outer-joined to
``organisations``; nothing is evaluated row by row in Python. Text compares lower-cased
on both sides (PostgreSQL's ``lower``; on SQLite the ``mailer_lower`` function that
``store.db`` registers on every connection, since SQLite's own ``lower`` leaves å, ä and
ö alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, String, case, cast, exists, func, select
from sqlalchemy.orm import Session

from mailer.domain.findings import msg
from mailer.domain.registration import RegistrationStatus
from mailer.domain.segments import Condition, county_codes
from mailer.errors import MailerError, NotFound
from mailer.store.models import (
    MailingList,
    Organisation,
    RegistrationRow,
    Segment,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)

SQLITE_LOWER = "mailer_lower"
Ts = TypeVarTuple("Ts")


def sqlite_lower(value: object) -> str | None:
    """The SQLite function behind ``mailer_lower``: Python's ``lower`` (Unicode-aware)."""
    return None if value is None else str(value).lower()


def _lower(session: Session, expr: ColumnElement[Any]) -> ColumnElement[str]:
    text = func.coalesce(cast(expr, String), "")
    if session.get_bind().dialect.name == "sqlite":
        return getattr(func, SQLITE_LOWER)(text)  # type: ignore[no-any-return]
    return func.lower(text)


def _column(session: Session, c: Condition) -> ColumnElement[Any]:
    if c.field == "org.kind":
        return Organisation.kind.expression
    if c.field == "org.code":
        return Organisation.code.expression
    if c.field == "org.name":
        return Organisation.name.expression
    if c.field == "role":
        return Subscriber.role.expression
    if c.field == "language":
        return Subscriber.language.expression
    name = c.attribute
    assert name is not None, c
    return _attribute(session, name)


def _attribute(session: Session, name: str) -> ColumnElement[Any]:
    """The value of the attribute ``name``, matched without regard to case as the values
    are (``attr.telefon`` finds a column imported as "Telefon"): a subquery over the
    subscriber's JSON keys, NULL when there is none; one spelt exactly as ``name`` first
    when a person has the same name in two spellings (two imports)."""
    if session.get_bind().dialect.name == "sqlite":
        keys = func.json_each(Subscriber.attributes).table_valued("key", "value")
    else:
        keys = func.jsonb_each_text(Subscriber.attributes).table_valued("key", "value")
    return (select(keys.c.value)
            .where(_lower(session, keys.c.key) == name.lower())
            .order_by(case((keys.c.key == name, 0), else_=1), keys.c.key)
            .limit(1).scalar_subquery())


def clause(session: Session, c: Condition,
           invitation_id: int | None = None) -> ColumnElement[bool]:
    """One condition as SQL over Subscriber (and Organisation, outer-joined);
    ``registered`` needs the invitation it is about."""
    if c.field == "registered":
        if invitation_id is None:
            raise MailerError(msg("condition %(condition)r: 'registered' works only when "
                                  "sending an invitation (mailer invite ID --where "
                                  "registered=no)", condition=c.text).with_web(msg(
                "condition %(condition)r: 'registered' works only when sending an "
                "invitation", condition=c.text)), field="where")
        answered = exists().where(
            RegistrationRow.invitation_id == invitation_id,
            RegistrationRow.subscriber_id == Subscriber.id,
            RegistrationRow.status.in_([RegistrationStatus.registered,
                                        RegistrationStatus.waitlisted]))
        return answered if (c.value == "yes") == (c.op == "=") else ~answered
    if c.field == "org.county":
        county = func.substr(func.coalesce(Organisation.code, ""), 1, 2)
        codes = sorted(county_codes(c))
        return county.not_in(codes) if c.op == "!=" else county.in_(codes)
    col = _lower(session, _column(session, c))
    value = c.value.lower()
    if c.op == "~":
        return col.contains(value, autoescape=True)
    return col != value if c.op == "!=" else col == value


def narrow(session: Session, query: Select[*Ts], conditions: Sequence[Condition],
           invitation_id: int | None = None) -> Select[*Ts]:
    """``query`` (which selects from Subscriber) with the conditions ANDed in; joins the
    organisation when a condition needs it."""
    if not conditions:
        return query
    if any(c.field.startswith("org.") for c in conditions):
        query = query.outerjoin(Organisation, Organisation.id == Subscriber.organisation_id)
    return query.where(*(clause(session, c, invitation_id) for c in conditions))


def subscriber_ids(session: Session, conditions: Sequence[Condition],
                   invitation_id: int | None = None) -> Select[tuple[int]]:
    """The ids of subscribers meeting every condition (a subquery for IN)."""
    return narrow(session, select(Subscriber.id), conditions, invitation_id)


@dataclass(frozen=True, slots=True)
class Match:
    email: str
    name: str
    organisation: str
    role: str
    language: str


def matching(session: Session, list_ids: Sequence[int], conditions: Sequence[Condition], *,
             sample: int = 10) -> tuple[int, list[Match]]:
    """How many active subscribers of ``list_ids`` match, and the first ``sample`` of them
    (by address) — what a mailing planned now would reach: suppressed addresses (bounced,
    complained, added by hand) are left out here as planning leaves them out."""
    if not list_ids:
        return 0, []
    ids = narrow(session, select(Subscriber.id).join(
        Subscription, Subscription.subscriber_id == Subscriber.id).where(
        Subscription.list_id.in_(list_ids),
        Subscription.status == SubscriptionStatus.active,
        ~exists().where(Suppression.email_key == Subscriber.email_key)),
        conditions).distinct().subquery()
    total = session.scalar(select(func.count()).select_from(ids)) or 0
    rows = session.execute(
        select(Subscriber.email, Subscriber.name, func.coalesce(Organisation.name, ""),
               Subscriber.role, Subscriber.language)
        .outerjoin(Organisation, Organisation.id == Subscriber.organisation_id)
        .where(Subscriber.id.in_(select(ids.c.id)))
        .order_by(Subscriber.email_key).limit(sample)).all()
    return int(total), [Match(*r) for r in rows]


# --- saved segments ---------------------------------------------------------------------
def find(session: Session, name: str) -> Segment | None:
    return session.scalar(select(Segment).where(Segment.name == name))


def get(session: Session, name: str) -> Segment:
    seg = find(session, name)
    if seg is None:
        known = ", ".join(session.scalars(select(Segment.name).order_by(Segment.name)))
        if not known:
            raise NotFound(msg("no segment %(name)r; there are no segments yet (mailer "
                               "segments add NAME --list L --where …)", name=name).with_admin(
                msg("no segment %(name)r; there are no segments yet (add one on the "
                    "Segments page)", name=name)).with_api(msg(
                        "no segment %(name)r; there are no segments yet (add one with PUT "
                        "/api/segments/{name})", name=name)), field="segment")
        raise NotFound(msg("no segment %(name)r; known segments: %(known)s", name=name,
                           known=known))
    return seg


def save(session: Session, name: str, lst: MailingList, conditions: list[str]) -> Segment:
    """Add the segment ``name``, or change its list and conditions."""
    seg = find(session, name)
    if seg is None:
        seg = Segment(name=name, list_id=lst.id, conditions=conditions)
        session.add(seg)
    else:
        seg.list_id, seg.conditions = lst.id, conditions
    session.flush()
    session.refresh(seg)
    return seg


def every(session: Session) -> list[Segment]:
    return list(session.scalars(select(Segment).order_by(Segment.name)))


def remove(session: Session, name: str) -> None:
    session.delete(get(session, name))
    session.flush()
