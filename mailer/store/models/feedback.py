"""What comes back from receivers: suppressed addresses, bounce and complaint events,
and the inbound messages already processed (so none is processed twice)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mailer.store.models.base import Base, utcnow
from mailer.store.models.delivery import _enum


class SuppressionReason(enum.StrEnum):
    hard_bounce = "hard_bounce"  # the address does not exist
    soft_bounces = "soft_bounces"  # repeated temporary failures within the window
    complaint = "complaint"  # the person marked our mail as spam (ARF report)
    manual = "manual"  # an administrator added it
    erased = "erased"  # added with an erasure request: never mail this address again


class FeedbackEventKind(enum.StrEnum):
    bounce = "bounce"
    complaint = "complaint"


class Suppression(Base):
    """An address no mailing may go to. Erasing the person keeps only ``email_hash``."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the case-folded address (domain.addresses.email_hash): always present.
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The case-folded address, for planning's join; NULL once the person is erased.
    email_key: Mapped[str | None] = mapped_column(String(320), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    reason: Mapped[SuppressionReason] = mapped_column(
        _enum(SuppressionReason, "suppression_reason"))
    detail: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Sign-ups for this address since it was suppressed (the form says nothing to the
    # visitor; the admin sees them here). The note names where and which list, never who.
    signup_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_signup_at: Mapped[datetime | None] = mapped_column(default=None)
    last_signup: Mapped[str] = mapped_column(String(200), default="", server_default="")


class FeedbackEvent(Base):
    """One bounce or complaint, per outbox row where it is known. Holds no address."""

    __tablename__ = "feedback_events"
    __table_args__ = (
        Index("ix_feedback_events_hash_at", "email_hash", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[FeedbackEventKind] = mapped_column(
        _enum(FeedbackEventKind, "feedback_event_kind"))
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox.id", ondelete="SET NULL"), index=True)
    mailing_id: Mapped[int | None] = mapped_column(
        ForeignKey("mailings.id", ondelete="SET NULL"), index=True)
    email_hash: Mapped[str] = mapped_column(String(64))
    bounce_class: Mapped[str] = mapped_column(String(10), default="")  # hard/soft/policy
    status: Mapped[str] = mapped_column(String(12), default="")  # e.g. 5.1.1
    diagnostic: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(20), default="")  # smtp | inbox
    at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundMessage(Base):
    """An inbound message already processed: by the hash of its Message-ID (or bytes)."""

    __tablename__ = "inbound_messages"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow)
