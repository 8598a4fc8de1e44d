"""Outgoing webhooks: endpoints, events (one row each, stable id) and deliveries with a log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from mailer.store.models.base import Base, JSONType, utcnow
from mailer.store.models.delivery import _enum


class DeliveryStatus(enum.StrEnum):
    pending = "pending"  # due at next_attempt_at (also while a worker holds its lease)
    delivered = "delivered"  # the endpoint answered 2xx
    dropped = "dropped"  # the endpoint was removed; nothing more is tried


#: Deliveries still waiting, as SQL with the value written out: the partial index
#: ``ix_webhook_deliveries_pending`` is used only by a query that says so in the same
#: words (SQLite cannot tell what a bound parameter will be).
PENDING_SQL = "status = 'pending'"


class WebhookEndpoint(Base):
    """A receiver URL with its signing secret and the event types it wants."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))  # "whsec_" + base64, as the spec says
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    description: Mapped[str] = mapped_column(String(300), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    # Since when every attempt failed (None: the last attempt succeeded or none was made).
    failing_since: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Deliveries it answered 2xx to, ever: counted by ``store.webhooks.record`` as they
    # happen (migration 0023), so its pages read one number instead of counting a table
    # that grows by every event; it stays when old deliveries are pruned or erased.
    delivered: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class WebhookEvent(Base):
    """Something that happened, once; ``event_id`` is the ``webhook-id`` every retry repeats."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(60), unique=True)
    type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event to one endpoint: the ledger row the worker works through, in order per key."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "endpoint_id", "ordering_key", "status", "id"),
        # the waiting ones per endpoint, counted from the index alone (migration 0023)
        Index("ix_webhook_deliveries_pending", "endpoint_id",
              sqlite_where=text(PENDING_SQL), postgresql_where=text(PENDING_SQL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"),
                                          index=True)
    # Deliveries with the same key reach an endpoint in the order they were emitted
    # ("subscriber:12"); an empty key orders nothing.
    ordering_key: Mapped[str] = mapped_column(String(80), default="")
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus, "webhook_delivery_status"), default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status: Mapped[int | None]  # HTTP status of the last attempt (None: no answer)
    last_error: Mapped[str] = mapped_column(String(1000), default="")
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookAttempt(Base):
    """The log: every POST made, with its answer (what the admin shows per endpoint)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[int | None]
    error: Mapped[str] = mapped_column(String(1000), default="")
    milliseconds: Mapped[int] = mapped_column(default=0)
