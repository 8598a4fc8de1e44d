"""Queries for outgoing webhooks: endpoints, the event rows, claiming due deliveries in
order per key, recording each attempt and disabling endpoints that keep failing."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, column, delete, exists, func, select, text, update
from sqlalchemy.orm import Session, aliased

from mailer.domain.addresses import email_key
from mailer.store.models import (
    DeliveryStatus,
    InvitationRow,
    Mailing,
    MailingKind,
    MailingList,
    RegistrationRow,
    Subscriber,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from mailer.store.models.webhooks import PENDING_SQL
from mailer.store.subscribers import on_erase, personal_data_section
from mailer.typing import JSONValue

# -- endpoints ---------------------------------------------------------------------------

def add_endpoint(session: Session, url: str, secret: str, events: Sequence[str], *,
                 description: str, now: datetime) -> WebhookEndpoint:
    ep = WebhookEndpoint(url=url, secret=secret, events=list(events), description=description,
                         enabled=True, created_at=now)
    session.add(ep)
    session.flush()
    return ep


def endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint | None:
    return session.get(WebhookEndpoint, endpoint_id)


def remove_endpoint(session: Session, endpoint: WebhookEndpoint) -> None:
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)
    session.flush()


def subscribed(session: Session, event_type: str) -> list[int]:
    """The ids of the endpoints that want ``event_type`` (a disabled endpoint still
    collects its events: they go out in order once it is enabled again). Only the two
    columns it needs: this runs with every change it might report."""
    return [eid for eid, events in session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).order_by(WebhookEndpoint.id))
        if event_type in (events or [])]


def switched_off(session: Session) -> list[WebhookEndpoint]:
    """Endpoints switched off while their deliveries failed (what the dashboard warns of)."""
    return list(session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(False),
                                      WebhookEndpoint.failing_since.is_not(None))
        .order_by(WebhookEndpoint.id)))


def pending_query(dialect: str, endpoint_id: int | None = None) -> Select[Any, int]:
    """(endpoint, deliveries waiting) of every endpoint or ``endpoint_id``'s, counted in
    ``ix_webhook_deliveries_pending``, which holds only the waiting ones."""
    table = WebhookDelivery.__tablename__
    # SQLite keeps no statistics: told nothing, it takes ix_webhook_deliveries_due and
    # reads each waiting row for its endpoint.
    source = text(f"{table} INDEXED BY ix_webhook_deliveries_pending" if dialect == "sqlite"
                  else table)
    endpoint = column("endpoint_id", Integer)
    q = (select(endpoint, func.count()).select_from(source).where(text(PENDING_SQL))
         .group_by(endpoint))
    if endpoint_id is not None:
        q = q.where(endpoint == endpoint_id)
    return q


def pending_counts(session: Session, endpoint_id: int | None = None) -> dict[int, int]:
    """Deliveries waiting per endpoint (all, or ``endpoint_id``'s). The delivered ones, a
    table that grows by every event, are counted as they go (``WebhookEndpoint.delivered``,
    by ``record``)."""
    q = pending_query(session.get_bind().dialect.name, endpoint_id)
    return {int(eid): n for eid, n in session.execute(q)}


# -- events ------------------------------------------------------------------------------

def add_event(session: Session, event_id: str, event_type: str, payload: dict[str, Any], *,
              ordering_key: str, endpoint_ids: Sequence[int], now: datetime) -> WebhookEvent:
    """The event row and one pending delivery per endpoint, in the caller's transaction."""
    ev = WebhookEvent(event_id=event_id, type=event_type, payload=payload, created_at=now)
    session.add(ev)
    session.flush()
    session.add_all([WebhookDelivery(endpoint_id=eid, event_id=ev.id, ordering_key=ordering_key,
                                     status=DeliveryStatus.pending, next_attempt_at=now,
                                     created_at=now) for eid in endpoint_ids])
    session.flush()
    return ev


def emit(session: Session, event_type: str, payload: dict[str, Any], *, now: datetime,
         ordering_key: str = "") -> str | None:
    """Record ``event_type`` for every endpoint that wants it (in the caller's transaction,
    so the event exists exactly when what it reports was committed); returns its stable id,
    or None when no endpoint wants it."""
    targets = subscribed(session, event_type)
    if not targets:
        return None
    event_id = "msg_" + secrets.token_urlsafe(18)
    add_event(session, event_id, event_type, payload, ordering_key=ordering_key,
              endpoint_ids=targets, now=now)
    return event_id


def subscriber_data(s: Subscriber) -> dict[str, Any]:
    return {"id": s.id, "email": s.email, "name": s.name, "language": s.language,
            "organisation": s.organisation.name if s.organisation else ""}


def _list_data(session: Session, list_id: int) -> dict[str, Any]:
    lst = session.get(MailingList, list_id)
    return {"id": list_id, "slug": lst.slug if lst else "", "name": lst.name if lst else ""}


def subscription_changed(session: Session, event_type: str, subscriber: Subscriber,
                         list_ids: Sequence[int], *, source: str, now: datetime) -> None:
    """``subscriber.confirmed`` / ``subscriber.unsubscribed``, in order per person."""
    if not list_ids or not subscribed(session, event_type):
        return
    emit(session, event_type,
         {"subscriber": subscriber_data(subscriber),
          "lists": [_list_data(session, i) for i in list_ids], "source": source,
          "at": now.isoformat()},
         now=now, ordering_key=f"subscriber:{subscriber.id}")


def registration_changed(session: Session, event_type: str, row: RegistrationRow,
                         invitation: InvitationRow, subscriber: Subscriber, *, now: datetime,
                         promoted: RegistrationRow | None = None,
                         transferred_to: Subscriber | None = None) -> None:
    """``registration.created`` / ``registration.cancelled``, in order per person; a seat
    transferred to a colleague is the giver's ``registration.cancelled`` (status
    ``transferred``, naming ``transferred_to``) and the taker's ``registration.created``."""
    if not subscribed(session, event_type):
        return
    payload: dict[str, Any] = {
        "subscriber": subscriber_data(subscriber),
        "invitation": {"id": invitation.id, "slug": invitation.slug, "title": invitation.title},
        "registration": {"id": row.id, "status": str(row.status), "how": str(row.how),
                         "organisation": row.organisation.name if row.organisation else ""},
        "at": now.isoformat()}
    if event_type == "registration.cancelled":
        payload["promoted"] = (None if promoted is None
                               else {"registration_id": promoted.id,
                                     "subscriber": subscriber_data(promoted.subscriber)})
        payload["transferred_to"] = (None if transferred_to is None
                                     else subscriber_data(transferred_to))
    emit(session, event_type, payload, now=now, ordering_key=f"subscriber:{subscriber.id}")


def feedback_received(session: Session, event_type: str, email: str, details: dict[str, Any],
                      *, now: datetime) -> None:
    """``bounce`` / ``complaint`` about a subscriber's address (``suppressions`` records
    them, from the SMTP conversation or the inbox), in order per person; an address that
    is no subscriber's (a test send's, say) gives no event."""
    if not subscribed(session, event_type):
        return
    person = session.scalar(select(Subscriber).where(Subscriber.email_key == email_key(email)))
    if person is None:
        return
    emit(session, event_type,
         {"subscriber": subscriber_data(person), **details, "at": now.isoformat()},
         now=now, ordering_key=f"subscriber:{person.id}")


#: Mailings whose end is news for other systems (not sign-up confirmations or test sends).
FINISHED_KINDS = (MailingKind.newsletter, MailingKind.invitation, MailingKind.reminder)


def _mailing_data(m: Mailing, now: datetime) -> dict[str, Any]:
    return {"id": m.id, "kind": str(m.kind), "name": m.name, "subject": m.subject,
            "source": m.source, "list_ids": list(m.list_ids or []),
            "started_at": m.started_at.isoformat() if m.started_at else None,
            "finished_at": now.isoformat()}


def mailings_finished(session: Session, mailing_ids: Sequence[int],
                      counts: dict[int, dict[str, int]], now: datetime) -> None:
    """``mailing.finished`` for each mailing the worker just marked done."""
    for m in session.scalars(select(Mailing).where(Mailing.id.in_(mailing_ids))
                             .order_by(Mailing.id)):
        if m.kind not in FINISHED_KINDS:
            continue
        emit(session, "mailing.finished",
             {"mailing": _mailing_data(m, now), "counts": counts.get(m.id, {})},
             now=now, ordering_key=f"mailing:{m.id}")


#: Why a mailing ended without every copy sent (``mailing.cancelled``'s ``reason``).
CANCELLED_REASONS = ("cancelled", "nobody", "missed")


def mailing_cancelled(session: Session, m: Mailing, reason: str, *, not_sent: int,
                      counts: dict[str, int], now: datetime) -> None:
    """``mailing.cancelled``: ``m`` (just set ``cancelled`` or ``missed``) sends nothing
    more; ``not_sent`` copies were skipped by this end, ``counts`` are all its copies'
    outcomes after it. In the caller's transaction, with the status change."""
    if reason not in CANCELLED_REASONS:
        raise ValueError(f"unknown reason {reason!r}; known: {', '.join(CANCELLED_REASONS)}")
    if m.kind not in FINISHED_KINDS:
        return
    emit(session, "mailing.cancelled",
         {"mailing": {**_mailing_data(m, now), "status": str(m.status)}, "reason": reason,
          "counts": counts, "not_sent": not_sent},
         now=now, ordering_key=f"mailing:{m.id}")


# -- delivery ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a worker holds for one attempt (its lease ends at ``next_attempt_at``)."""

    id: int
    endpoint_id: int
    url: str
    secret: str
    event_id: str
    type: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int  # including this one


def claim_due(session: Session, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Due deliveries of enabled endpoints that are first in line for their key; each one's
    next attempt moves ``lease`` ahead, so a worker that dies mid-POST leaves it due again
    (delivered at least once)."""
    d, earlier = WebhookDelivery, aliased(WebhookDelivery)
    waits = exists().where(earlier.endpoint_id == d.endpoint_id,
                           earlier.ordering_key == d.ordering_key,
                           earlier.status == DeliveryStatus.pending, earlier.id < d.id)
    pick = (select(d.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == d.endpoint_id)
            .where(d.status == DeliveryStatus.pending, d.next_attempt_at <= now,
                   WebhookEndpoint.enabled.is_(True), (d.ordering_key == "") | ~waits)
            .order_by(d.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(of=d, skip_locked=True)
    ids = list(session.scalars(pick))
    if not ids:
        return []
    session.execute(update(d).where(d.id.in_(ids))
                    .values(next_attempt_at=now + lease, attempts=d.attempts + 1)
                    .execution_options(synchronize_session=False))
    rows = session.execute(
        select(d.id, d.endpoint_id, WebhookEndpoint.url, WebhookEndpoint.secret,
               WebhookEvent.event_id, WebhookEvent.type, WebhookEvent.payload,
               WebhookEvent.created_at, d.attempts)
        .join(WebhookEndpoint, WebhookEndpoint.id == d.endpoint_id)
        .join(WebhookEvent, WebhookEvent.id == d.event_id)
        .where(d.id.in_(ids)).order_by(d.id))
    return [Claimed(*r) for r in rows]


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST got: ``status`` None when no HTTP answer came."""

    delivery_id: int
    endpoint_id: int
    ok: bool
    status: int | None
    error: str
    milliseconds: int
    retry_at: datetime  # when to try again if not ok


def record(session: Session, attempts: Sequence[Attempt], now: datetime,
           disable_after: timedelta) -> list[WebhookEndpoint]:
    """Write the attempts to the log and the deliveries; returns the endpoints disabled now
    because every attempt to them failed for ``disable_after``."""
    disabled: list[WebhookEndpoint] = []
    # An endpoint removed while its POST was in flight took its deliveries along.
    alive = set(session.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.id.in_([a.delivery_id for a in attempts]))))
    attempts = [a for a in attempts if a.delivery_id in alive]
    for a in attempts:
        session.add(WebhookAttempt(delivery_id=a.delivery_id, endpoint_id=a.endpoint_id, at=now,
                                   status=a.status, error=a.error[:1000],
                                   milliseconds=a.milliseconds))
        values: dict[str, Any] = {"last_status": a.status, "last_error": a.error[:1000]}
        if a.ok:
            values.update(status=DeliveryStatus.delivered, delivered_at=now)
        else:
            values.update(next_attempt_at=a.retry_at)
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == a.delivery_id)
                        .values(**values).execution_options(synchronize_session=False))
    for eid in sorted({a.endpoint_id for a in attempts}):
        ep = session.get(WebhookEndpoint, eid)
        if ep is None:
            continue
        mine = [a for a in attempts if a.endpoint_id == eid]
        if delivered := sum(a.ok for a in mine):
            # In SQL (delivered = delivered + n): another worker's count is not lost.
            ep.delivered = WebhookEndpoint.delivered + delivered
        if mine[-1].ok:
            ep.failing_since = None
        elif all(not a.ok for a in mine):
            ep.failing_since = ep.failing_since or now
            if ep.enabled and now - ep.failing_since >= disable_after:
                ep.enabled = False
                ep.disabled_at = now
                days = (now - ep.failing_since).total_seconds() / 86400
                # No edge's way out in the stored words (the API and the admin show them
                # too): the CLI's listing adds its command, the admin has its button.
                ep.disabled_reason = (
                    f"every attempt failed for {days:.1f} days (last: {mine[-1].error}); "
                    "its events wait and go out in order once it is enabled again")
                disabled.append(ep)
    session.flush()
    return disabled


def prune_delivered(session: Session, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` deliveries delivered before ``before``, their attempts, and
    the events they leave without any delivery; returns how many deliveries went.

    Only delivered ones: a delivery still waiting or retrying is kept however old. The
    endpoints' delivered counts (``WebhookEndpoint.delivered``) stay as they are. Read
    through the (status, next_attempt_at) index: a delivery was due before it was
    delivered, so every one delivered before ``before`` whose lease has also passed it
    is in that range (the rest go at a later pass)."""
    d = WebhookDelivery
    ids = list(session.scalars(
        select(d.id).where(d.status == DeliveryStatus.delivered, d.next_attempt_at < before,
                           d.delivered_at < before)
        .order_by(d.next_attempt_at).limit(limit)))
    if not ids:
        return 0
    events = set(session.scalars(select(d.event_id).where(d.id.in_(ids))))
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
    session.execute(delete(d).where(d.id.in_(ids)))
    session.execute(delete(WebhookEvent).where(
        WebhookEvent.id.in_(events), ~exists().where(d.event_id == WebhookEvent.id)))
    return len(ids)


def next_due(session: Session) -> datetime | None:
    """When the next pending delivery to an enabled endpoint is due."""
    return session.scalar(
        select(func.min(WebhookDelivery.next_attempt_at))
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.status == DeliveryStatus.pending,
               WebhookEndpoint.enabled.is_(True)))


def count_pending(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.status == DeliveryStatus.pending,
               WebhookEndpoint.enabled.is_(True))) or 0


@dataclass(frozen=True, slots=True)
class LogLine:
    at: datetime
    event_id: str
    type: str
    attempt: int
    status: int | None
    error: str
    milliseconds: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def log(session: Session, endpoint_id: int, limit: int = 100) -> list[LogLine]:
    """The endpoint's attempts, newest first."""
    a, d, e = WebhookAttempt, WebhookDelivery, WebhookEvent
    earlier = aliased(WebhookAttempt)
    nth = (select(func.count()).where(earlier.delivery_id == a.delivery_id, earlier.id <= a.id)
           .scalar_subquery())
    rows = session.execute(
        select(a.at, e.event_id, e.type, nth, a.status, a.error, a.milliseconds)
        .join(d, d.id == a.delivery_id).join(e, e.id == d.event_id)
        .where(a.endpoint_id == endpoint_id).order_by(a.id.desc()).limit(limit))
    return [LogLine(*r) for r in rows]


def _events_about(session: Session, subscriber_id: int) -> list[int]:
    return list(session.scalars(select(WebhookDelivery.event_id).distinct().where(
        WebhookDelivery.ordering_key == f"subscriber:{subscriber_id}")))


@personal_data_section("webhook_events")
def _report(session: Session, subscriber: Subscriber) -> JSONValue:
    """Events about the person sent (or waiting to be sent) to other systems."""
    ids = _events_about(session, subscriber.id)
    rows = list(session.scalars(select(WebhookEvent).where(WebhookEvent.id.in_(ids))
                                .order_by(WebhookEvent.id))) if ids else []
    return [{"event_id": e.event_id, "type": e.type, "created_at": e.created_at.isoformat()}
            for e in rows]


@on_erase
def _erase(session: Session, subscriber: Subscriber) -> None:
    """Events about the person hold their address: they go, with deliveries and log."""
    ids = _events_about(session, subscriber.id)
    if not ids:
        return
    dids = select(WebhookDelivery.id).where(WebhookDelivery.event_id.in_(ids))
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(dids))
                    .execution_options(synchronize_session=False))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(ids))
                    .execution_options(synchronize_session=False))
    session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(ids))
                    .execution_options(synchronize_session=False))
