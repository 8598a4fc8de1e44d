"""Suppressed addresses, bounce and complaint events, processed inbound messages.

The suppression list is checked twice: planning leaves suppressed addresses out
(``outbox.plan_lists`` joins on ``email_key``) and claiming skips any row whose address
hash is suppressed by then (``outbox.claim_batch``), which also catches addresses whose
row was erased down to its hash. Events hold the address hash only, never the address.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVarTuple

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.orm import Session

from mailer.domain.addresses import email_hash, email_key
from mailer.domain.feedback import BounceClass, BouncePolicy
from mailer.store import webhooks
from mailer.store.models import (
    FeedbackEvent,
    FeedbackEventKind,
    InboundMessage,
    Mailing,
    OutboxRow,
    OutboxStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from mailer.store.search import escape_like
from mailer.store.subscribers import on_erase

Ts = TypeVarTuple("Ts")


def hash_of(email: str) -> str:
    return email_hash(email_key(email))


def get(session: Session, email: str) -> Suppression | None:
    """The suppression of ``email`` (by its hash: erased entries too), or None."""
    return session.scalar(select(Suppression).where(Suppression.email_hash == hash_of(email)))


def suppress(session: Session, email: str, reason: SuppressionReason, *, now: datetime,
             detail: str = "", source: str = "") -> bool:
    """Suppress ``email``; False when it was suppressed already (the first reason stays)."""
    if get(session, email) is not None:
        return False
    session.add(Suppression(email_hash=hash_of(email), email_key=email_key(email),
                            email=email.strip(), reason=reason, detail=detail[:500],
                            source=source[:100], created_at=now))
    session.flush()
    return True


def note_signup(session: Session, email: str, *, now: datetime, note: str) -> Suppression | None:
    """Count a sign-up for ``email`` on its suppression; None when it is not suppressed."""
    found = get(session, email)
    if found is None:
        return None
    found.signup_attempts = (found.signup_attempts or 0) + 1
    found.last_signup_at = now
    found.last_signup = note[:200]
    session.flush()
    return found


def unsuppress(session: Session, email: str) -> bool:
    """Remove the suppression of ``email``; False when there was none."""
    result = session.execute(delete(Suppression).where(Suppression.email_hash == hash_of(email))
                             .execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))


def suppressed_hashes(session: Session, hashes: Iterable[str]) -> dict[str, str]:
    """{hash: reason} for the suppressed ones among ``hashes``."""
    wanted = list(set(hashes))
    out: dict[str, str] = {}
    for i in range(0, len(wanted), 500):
        for h, reason in session.execute(
                select(Suppression.email_hash, Suppression.reason)
                .where(Suppression.email_hash.in_(wanted[i:i + 500]))):
            out[h] = str(reason)
    return out


def _matching(stmt: Select[*Ts], q: str) -> Select[*Ts]:
    """Only the suppressions whose address contains ``q`` (``%`` and ``_`` as written), or
    whose reason is ``q``."""
    q = q.strip()
    if not q:
        return stmt
    like = f"%{escape_like(q.lower())}%"
    return stmt.where(or_(Suppression.email_key.like(like, escape="\\"), Suppression.reason == q))


def listing(session: Session, *, limit: int = 500, offset: int = 0,
            q: str = "") -> list[Suppression]:
    """Suppressions, newest first; ``q`` filters by address substring or reason."""
    stmt = select(Suppression).order_by(Suppression.created_at.desc(), Suppression.id.desc())
    return list(session.scalars(_matching(stmt, q).limit(limit).offset(offset)))


def matching(session: Session, q: str = "") -> int:
    """How many suppressions ``listing`` with this ``q`` pages through."""
    return session.scalar(_matching(select(func.count()).select_from(Suppression), q)) or 0


def count(session: Session) -> dict[str, int]:
    """Suppressions per reason."""
    return {str(r): n for r, n in session.execute(
        select(Suppression.reason, func.count()).group_by(Suppression.reason))}


def suppressed_in_lists(session: Session, list_ids: Sequence[int]) -> int:
    """Active subscribers of ``list_ids`` whose address is suppressed (left out at planning)."""
    if not list_ids:
        return 0
    return session.scalar(
        select(func.count(func.distinct(Subscriber.id)))
        .join(Subscription, Subscription.subscriber_id == Subscriber.id)
        .join(Suppression, Suppression.email_key == Subscriber.email_key)
        .where(Subscription.list_id.in_(list_ids),
               Subscription.status == SubscriptionStatus.active)) or 0


# --- events ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RowInfo:
    """What an event needs of the outbox row it names."""

    id: int
    mailing_id: int
    email: str
    subscriber_id: int | None


def rows(session: Session, ids: Iterable[int]) -> dict[int, RowInfo]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {r[0]: RowInfo(r[0], r[1], r[2], r[3]) for r in session.execute(
        select(OutboxRow.id, OutboxRow.mailing_id, OutboxRow.email, OutboxRow.subscriber_id)
        .where(OutboxRow.id.in_(wanted)))}


def latest_row_for(session: Session, email: str) -> RowInfo | None:
    """The newest sent outbox row to ``email`` (for a report that names no row); failing
    that, one still ``sending``: a fast DSN can arrive before the worker's commit, or
    while a crashed worker's rows wait to be settled, and must not be dropped."""
    for statuses in ([OutboxStatus.sent, OutboxStatus.failed, OutboxStatus.unknown],
                     [OutboxStatus.sending]):
        r = session.execute(
            select(OutboxRow.id, OutboxRow.mailing_id, OutboxRow.email,
                   OutboxRow.subscriber_id)
            .where(OutboxRow.email_key == email_key(email), OutboxRow.status.in_(statuses))
            .order_by(OutboxRow.id.desc()).limit(1)).first()
        if r:
            return RowInfo(r[0], r[1], r[2], r[3])
    return None


def subscriber_of(session: Session, email: str) -> int | None:
    return session.scalar(select(Subscriber.id).where(Subscriber.email_key == email_key(email)))


def has_event(session: Session, kind: FeedbackEventKind, outbox_id: int, email: str) -> bool:
    """Whether this row already has an event of ``kind`` for this address."""
    return session.scalar(select(func.count()).select_from(FeedbackEvent).where(
        FeedbackEvent.kind == kind, FeedbackEvent.outbox_id == outbox_id,
        FeedbackEvent.email_hash == hash_of(email))) != 0


@dataclass(frozen=True, slots=True)
class BounceFact:
    """A bounce to record: from the SMTP conversation or from a report in the inbox."""

    email: str
    status: str
    bounce_class: BounceClass
    diagnostic: str = ""
    outbox_id: int | None = None
    mailing_id: int | None = None
    source: str = "inbox"  # smtp | inbox


def record_bounce(session: Session, fact: BounceFact, policy: BouncePolicy,
                  now: datetime) -> str | None:
    """Record a bounce event and apply the policy; returns the suppression reason or None."""
    h = hash_of(fact.email)
    session.add(FeedbackEvent(kind=FeedbackEventKind.bounce, outbox_id=fact.outbox_id,
                              mailing_id=fact.mailing_id, email_hash=h,
                              bounce_class=fact.bounce_class.value, status=fact.status[:12],
                              diagnostic=fact.diagnostic[:500], source=fact.source, at=now))
    session.flush()
    soft = 0
    if fact.bounce_class is BounceClass.soft:
        soft = session.scalar(select(func.count()).select_from(FeedbackEvent).where(
            FeedbackEvent.email_hash == h, FeedbackEvent.kind == FeedbackEventKind.bounce,
            FeedbackEvent.bounce_class == BounceClass.soft.value,
            FeedbackEvent.at >= now - timedelta(days=policy.soft_days))) or 0
    reason = policy.decide(fact.bounce_class, soft)
    added = reason is not None and suppress(
        session, fact.email, SuppressionReason(reason), now=now,
        detail=f"{fact.status} {fact.diagnostic}".strip(), source=fact.source)
    webhooks.feedback_received(session, "bounce", fact.email, {
        "mailing_id": fact.mailing_id, "class": fact.bounce_class.value,
        "status": fact.status, "diagnostic": fact.diagnostic, "source": fact.source,
        "suppressed": reason is not None}, now=now)
    return reason if added else None


def record_complaint(session: Session, email: str, *, outbox_id: int | None,
                     mailing_id: int | None, detail: str, now: datetime) -> bool:
    """Record a complaint event and suppress the address; False if suppressed already."""
    session.add(FeedbackEvent(kind=FeedbackEventKind.complaint, outbox_id=outbox_id,
                              mailing_id=mailing_id, email_hash=hash_of(email),
                              diagnostic=detail[:500], source="inbox", at=now))
    added = suppress(session, email, SuppressionReason.complaint, now=now, detail=detail,
                     source="inbox")
    webhooks.feedback_received(session, "complaint", email, {
        "mailing_id": mailing_id, "detail": detail, "suppressed": True}, now=now)
    return added


# --- sender health --------------------------------------------------------------------------
def health_counts(session: Session, mailing_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per mailing: outbox rows with a hard, soft or policy bounce, complaints, and
    subscriptions ended after the row was sent (unsubscribed)."""
    out: dict[int, dict[str, int]] = {m: {} for m in mailing_ids}
    if not mailing_ids:
        return out
    ids = list(mailing_ids)
    for mid, kind, klass, n in session.execute(
            select(FeedbackEvent.mailing_id, FeedbackEvent.kind, FeedbackEvent.bounce_class,
                   func.count(func.distinct(func.coalesce(FeedbackEvent.outbox_id,
                                                          -FeedbackEvent.id))))
            .where(FeedbackEvent.mailing_id.in_(ids))
            .group_by(FeedbackEvent.mailing_id, FeedbackEvent.kind,
                      FeedbackEvent.bounce_class)):
        if mid is None:
            continue
        key = "complained" if str(kind) == "complaint" else f"bounced_{klass or 'soft'}"
        out[mid][key] = out[mid].get(key, 0) + n
    for mid, n in _unsubscribed_after_sent(session, ids).items():
        out[mid]["unsubscribed"] = n
    return out


#: Ended subscriptions whose outbox rows one statement looks up.
_PEOPLE_CHUNK = 500


def _unsubscribed_after_sent(session: Session, ids: Sequence[int]) -> dict[int, int]:
    """Per mailing: copies sent whose subscription on the copy's list ended after they
    were sent.

    Two steps whose plans do not depend on the planner's statistics: the subscriptions
    ended since the oldest of these mailings was made (a copy is sent after its mailing
    is made; ``ix_subscriptions_unsubscribed_at``, partial: few rows), then those
    people's outbox rows by ``subscriber_id``. One join let both databases walk every
    copy of the mailing sent instead (a million on a big mailing, on every progress
    read): SQLite always (it keeps no statistics here), PostgreSQL while its statistics
    were stale. ``mailing_id + 0`` keeps the look-up off the mailing's own indexes.
    """
    since = session.scalar(select(func.min(Mailing.created_at)).where(Mailing.id.in_(ids)))
    if since is None:
        return {}
    ends: dict[tuple[int, int], datetime] = {
        (sid, lid): at for sid, lid, at in session.execute(
            select(Subscription.subscriber_id, Subscription.list_id,
                   Subscription.unsubscribed_at)
            .where(Subscription.unsubscribed_at >= since,
                   Subscription.status == SubscriptionStatus.unsubscribed))
        if at is not None}
    people = sorted({sid for sid, _ in ends})
    out: dict[int, int] = {}
    for i in range(0, len(people), _PEOPLE_CHUNK):
        for mid, sid, lid, status, sent_at in session.execute(
                select(OutboxRow.mailing_id, OutboxRow.subscriber_id, OutboxRow.list_id,
                       OutboxRow.status, OutboxRow.sent_at)
                .where(OutboxRow.subscriber_id.in_(people[i:i + _PEOPLE_CHUNK]),
                       (OutboxRow.mailing_id + 0).in_(list(ids)))):
            ended = ends.get((sid, lid)) if sid is not None and lid is not None else None
            if (ended is not None and status == OutboxStatus.sent and sent_at is not None
                    and ended >= sent_at):
                out[mid] = out.get(mid, 0) + 1
    return out
    for mid, n in session.execute(
            select(OutboxRow.mailing_id, func.count())
            .select_from(Subscription)
            .join(OutboxRow, (OutboxRow.subscriber_id == Subscription.subscriber_id)
                  & (OutboxRow.list_id == Subscription.list_id))
            .where(Subscription.unsubscribed_at >= since,
                   Subscription.status == SubscriptionStatus.unsubscribed,
                   OutboxRow.mailing_id.in_(ids), OutboxRow.status == OutboxStatus.sent,
                   Subscription.unsubscribed_at >= OutboxRow.sent_at)
            .group_by(OutboxRow.mailing_id)):
        out[mid]["unsubscribed"] = n
    return out


# --- inbound messages -------------------------------------------------------------------------
def seen(session: Session, key_hash: str) -> bool:
    return session.get(InboundMessage, key_hash) is not None


def mark_seen(session: Session, key_hash: str, kind: str, now: datetime) -> None:
    session.add(InboundMessage(key_hash=key_hash, kind=kind[:20], at=now))
    session.flush()


@on_erase
def _forget_address(session: Session, subscriber: Subscriber) -> None:
    """Erasure keeps a suppression as its hash only; events keep no address text."""
    h = email_hash(subscriber.email_key)
    session.execute(update(Suppression).where(Suppression.email_hash == h)
                    .values(email=None, email_key=None)
                    .execution_options(synchronize_session=False))
    session.execute(update(FeedbackEvent).where(FeedbackEvent.email_hash == h)
                    .values(diagnostic="")
                    .execution_options(synchronize_session=False))


def bounced_after_sent(session: Session, mailing_id: int) -> int:
    """Rows of the mailing the server accepted that bounced later (hard or soft).

    Two steps, as ``_unsubscribed_after_sent``: the copies that bounced (the mailing's
    bounce events: few), then which of those were sent, by id. One join let PostgreSQL
    read every copy of the mailing sent (62-115 ms for 257,000 on each view of the
    mailing, the dashboard and the API's mailings; README, Admin pages at a million)."""
    bounced = sorted({oid for oid in session.scalars(
        select(FeedbackEvent.outbox_id)
        .where(FeedbackEvent.mailing_id == mailing_id,
               FeedbackEvent.kind == FeedbackEventKind.bounce,
               FeedbackEvent.bounce_class.in_(["hard", "soft"]))) if oid is not None})
    # Their states read by id and the sent ones counted here: a WHERE on the status let
    # SQLite (no statistics) walk ix_outbox_due's every sent copy of every mailing
    # instead, 0.9 s with an invitation's 500,000 beside the mailing.
    return sum(status == OutboxStatus.sent
               for i in range(0, len(bounced), _BOUNCED_CHUNK)
               for status in session.scalars(select(OutboxRow.status).where(
                   OutboxRow.id.in_(bounced[i:i + _BOUNCED_CHUNK]))))


#: Bounced copies whose status one statement looks up.
_BOUNCED_CHUNK = 1000
