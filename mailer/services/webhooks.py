"""Outgoing webhooks: endpoints (add, list, enable, disable, remove, log) and ``emit``.

Events are rows written in the same transaction as what they report, one delivery per
endpoint that wants the type; the worker (``delivery.webhooks``) POSTs them signed as the
Standard Webhooks spec says, at least once, with the event's stable ``webhook-id`` for
de-duplication, in order per subscriber. The subscription and registration events are
emitted by the store functions every path goes through (``store.subscriptions.confirm``
and ``unsubscribe``, ``store.registrations.register`` and ``cancel``), ``mailing.finished``
by ``store.outbox.finish_mailings``, ``mailing.cancelled`` by ``services.mailings.cancel``
and ``store.mailings.start_due`` (missed, or nobody to send to at its time); ``bounce``
and ``complaint`` by whoever processes the inbox, through :func:`emit`.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from mailer.domain.findings import msg
from mailer.errors import MailerError, NotFound
from mailer.render.i18n import N_
from mailer.store import webhooks as store
from mailer.store.models import Subscriber, WebhookEndpoint
from mailer.store.webhooks import LogLine

__all__ = ["EVENTS", "EVENT_LABELS", "EndpointInfo", "LogLine", "add_endpoint", "disable_endpoint",
           "emit", "enable_endpoint", "endpoint_log", "endpoints", "get_endpoint",
           "new_secret", "parse_events", "remove_endpoint", "subscriber_payload",
           "switched_off"]

EVENTS = ("subscriber.confirmed", "subscriber.unsubscribed", "registration.created",
          "registration.cancelled", "bounce", "complaint", "mailing.finished",
          "mailing.cancelled")

#: What each event type means, for the admin's form (translated where it is shown).
EVENT_LABELS = {
    "subscriber.confirmed": N_("a subscription became active"),
    "subscriber.unsubscribed": N_("someone unsubscribed"),
    "registration.created": N_("someone registered for an invitation"),
    "registration.cancelled": N_("a registration was cancelled or its seat transferred"),
    "bounce": N_("an address bounced"),
    "complaint": N_("a spam complaint came in"),
    "mailing.finished": N_("every copy of a mailing is final"),
    "mailing.cancelled": N_("a mailing ended unfinished: cancelled, nobody to send to, "
                            "or missed"),
}
#: Names a receiver may look for that are another event's ``reason``.
_REASON_OF = {"mailing.missed": "mailing.cancelled"}


def _now() -> datetime:
    return datetime.now(UTC)


def new_secret() -> str:
    """A fresh signing secret in the spec's format: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _check_secret(secret: str) -> str:
    raw = secret.strip().removeprefix("whsec_")
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not 24 <= len(key) <= 64:
        raise MailerError(msg(
            "the secret must be 'whsec_' followed by base64 of 24 to 64 random bytes (the "
            "Standard Webhooks format); leave it out and one is made for you"), field="secret")
    return "whsec_" + raw


def _check_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MailerError(msg("webhook URL %(url)r must be an absolute http(s) URL, e.g. "
                              "https://crm.example.org/hooks/mailer", url=url), field="url")
    if parts.username or parts.password:
        raise MailerError(msg("the webhook URL must not carry a user name or password; "
                              "receivers verify the signature instead"), field="url")
    return url.strip()


def parse_events(text: str | Sequence[str]) -> list[str]:
    """``a,b`` or a list -> known event types in the canonical order ("all": every one)."""
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text)]
    items = [t for t in items if t]
    if items == ["all"]:
        return list(EVENTS)
    unknown = [t for t in items if t not in EVENTS]
    if unknown or not items:
        if not unknown:
            raise MailerError(msg("choose at least one event type from: %(events)s (or "
                                  "'all')", events=", ".join(EVENTS)), field="events")
        for name in unknown:
            if name in _REASON_OF:
                raise MailerError(msg(
                    "%(name)s is no event type of its own: a missed mailing is a "
                    "%(event)s with reason 'missed'; choose %(event)s",
                    name=name, event=_REASON_OF[name]), field="events")
        raise MailerError(msg("unknown event type(s) %(unknown)s; choose from: %(events)s "
                              "(or 'all')", unknown=", ".join(unknown),
                              events=", ".join(EVENTS)), field="events")
    return [e for e in EVENTS if e in items]


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    id: int
    url: str
    events: list[str]
    description: str
    enabled: bool
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str
    delivered: int  # answered 2xx, ever (also deliveries pruned or erased since)
    pending: int  # waiting to be delivered

    @classmethod
    def of(cls, ep: WebhookEndpoint, pending: int) -> EndpointInfo:
        return cls(ep.id, ep.url, list(ep.events), ep.description, ep.enabled,
                   ep.failing_since, ep.disabled_at, ep.disabled_reason, ep.delivered or 0,
                   pending)


def add_endpoint(session: Session, url: str, events: str | Sequence[str], *,
                 secret: str = "", description: str = "",
                 now: datetime | None = None) -> tuple[EndpointInfo, str]:
    """Register a receiver; returns it with its secret (made here when none is given)."""
    ep = store.add_endpoint(session, _check_url(url),
                            _check_secret(secret) if secret else new_secret(),
                            parse_events(events), description=description.strip()[:300],
                            now=now or _now())
    return EndpointInfo.of(ep, 0), ep.secret


def endpoints(session: Session) -> list[EndpointInfo]:
    pending = store.pending_counts(session)
    return [EndpointInfo.of(ep, pending.get(ep.id, 0)) for ep in store.endpoints(session)]


def switched_off(session: Session) -> list[EndpointInfo]:
    """Endpoints switched off while their deliveries fail (the worker gives up after
    MAILER_WEBHOOK_DISABLE_AFTER_DAYS): the dashboard warns the admins. Usually none, and
    nothing else is read: not the other endpoints' counts."""
    return [EndpointInfo.of(ep, store.pending_counts(session, ep.id).get(ep.id, 0))
            for ep in store.switched_off(session)]


def _endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    ep = store.get_endpoint(session, endpoint_id)
    if ep is None:
        raise NotFound(msg("no webhook endpoint with id %(id)s; 'mailer webhooks' lists "
                           "them", id=endpoint_id).with_admin(msg(
            "no webhook endpoint with id %(id)s; the Webhooks page lists them",
            id=endpoint_id)).with_api(msg(
            "no webhook endpoint with id %(id)s; GET /api/webhooks lists them",
            id=endpoint_id)))
    return ep


def get_endpoint(session: Session, endpoint_id: int) -> EndpointInfo:
    return EndpointInfo.of(_endpoint(session, endpoint_id),
                           store.pending_counts(session, endpoint_id).get(endpoint_id, 0))


def enable_endpoint(session: Session, endpoint_id: int) -> EndpointInfo:
    """Switch an endpoint on again; its waiting events go out in order on the next run."""
    ep = _endpoint(session, endpoint_id)
    ep.enabled, ep.disabled_at, ep.disabled_reason, ep.failing_since = True, None, "", None
    return get_endpoint(session, endpoint_id)


def disable_endpoint(session: Session, endpoint_id: int, *, reason: str = "disabled by hand",
                     now: datetime | None = None) -> EndpointInfo:
    """Stop deliveries; events keep collecting and go out once it is enabled again."""
    ep = _endpoint(session, endpoint_id)
    ep.enabled, ep.disabled_at, ep.disabled_reason = False, now or _now(), reason
    return get_endpoint(session, endpoint_id)


def remove_endpoint(session: Session, endpoint_id: int) -> str:
    """Delete an endpoint with its deliveries and log; returns its URL."""
    ep = _endpoint(session, endpoint_id)
    url = ep.url
    store.remove_endpoint(session, ep)
    return url


def endpoint_log(session: Session, endpoint_id: int, limit: int = 100) -> list[LogLine]:
    _endpoint(session, endpoint_id)
    return store.log(session, endpoint_id, limit)


def subscriber_payload(subscriber: Subscriber) -> dict[str, Any]:
    """How a person appears in event payloads (the same in every event)."""
    return store.subscriber_data(subscriber)


def emit(session: Session, event: str, payload: dict[str, Any], *,
         now: datetime | None = None, ordering_key: str | None = None) -> str | None:
    """Record ``event`` for delivery to every endpoint that wants it, in the caller's
    transaction; returns the event's stable id (None when no endpoint wants it).

    ``payload`` must be JSON-serialisable. Events about a person should carry
    ``{"subscriber": subscriber_payload(person), ...}``: they are then delivered in order
    with that person's other events. ``ordering_key`` overrides that key.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}; known: {', '.join(EVENTS)}")
    if ordering_key is None:
        who = payload.get("subscriber")
        ordering_key = (f"subscriber:{who['id']}" if isinstance(who, dict) and "id" in who
                        else "")
    return store.emit(session, event, payload, now=now or _now(), ordering_key=ordering_key)
