"""Invitations, invitees, registrations, the reminder ledger and yearly re-confirmations."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.domain.registration import RegistrationHow, RegistrationStatus
from mailer.store.models.base import Base, JSONType, utcnow
from mailer.store.models.subscribers import Organisation, Subscriber
from mailer.typing import JSON


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Plain strings (no native ENUM type) so adding a value needs no DDL.
    return Enum(cls, name=name, native_enum=False, length=20,
                values_callable=lambda e: [m.value for m in e])


class LedgerState(enum.StrEnum):
    sent = "sent"  # handed to delivery (mailing_id says which mailing); never again
    skipped = "skipped"  # not sent, with the reason (registered, unsubscribed, seats full…)
    missed = "missed"  # its time passed by more than the grace, or the deadline came first


class ReconfirmAnswer(enum.StrEnum):
    yes = "yes"
    no = "no"


class InvitationRow(Base):
    """An invitation as the database knows it, synced from ``issues/<slug>/issue.yaml``."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)  # the folder under issues/
    title: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5), default="sv")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Stockholm")
    deadline: Mapped[datetime]  # UTC
    seats_min: Mapped[int] = mapped_column(Integer, default=1)
    seats_max: Mapped[int] = mapped_column(Integer)
    transferable: Mapped[bool] = mapped_column(default=False)
    waitlist: Mapped[bool] = mapped_column(default=False)
    reminder_offsets: Mapped[list[str]] = mapped_column(JSONType, default=list)  # ["7d", "1d"]
    period_start: Mapped[int | None]
    period_end: Mapped[int | None]
    reconfirm: Mapped[bool] = mapped_column(default=False)
    first_invited_at: Mapped[datetime | None]  # when the first invitation mailing was planned
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitee(Base):
    """Who was invited, when, through which list and mailing."""

    __tablename__ = "invitees"
    __table_args__ = (UniqueConstraint("invitation_id", "subscriber_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE"), index=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="SET NULL"))
    mailing_id: Mapped[int | None]  # the delivery mailing; no FK (delivery owns that table)
    invited_at: Mapped[datetime] = mapped_column(default=utcnow)


class RegistrationRow(Base):
    """One person's registration for an invitation (one row per person; status changes)."""

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("invitation_id", "subscriber_id"),
        Index("ix_registrations_invitation_org", "invitation_id", "organisation_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"))
    status: Mapped[RegistrationStatus] = mapped_column(
        _enum(RegistrationStatus, "registration_status"), default=RegistrationStatus.registered)
    how: Mapped[RegistrationHow] = mapped_column(
        _enum(RegistrationHow, "registration_how"), default=RegistrationHow.coordinator)
    source: Mapped[str] = mapped_column(String(200), default="")  # e.g. import:delegia.csv:12
    note: Mapped[str] = mapped_column(Text, default="")
    transferred_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"))
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    extra: Mapped[JSON] = mapped_column(JSONType, default=dict)

    subscriber: Mapped[Subscriber] = relationship(foreign_keys=[subscriber_id], lazy="joined")
    organisation: Mapped[Organisation] = relationship(lazy="joined")


class ReminderLedger(Base):
    """A row before anything that must happen once: one per (invitation, person, offset)."""

    __tablename__ = "reminder_ledger"
    __table_args__ = (UniqueConstraint("invitation_id", "subscriber_id", "offset_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    offset_key: Mapped[str] = mapped_column(String(16))  # "7d", "1d", "12h"
    state: Mapped[LedgerState] = mapped_column(_enum(LedgerState, "ledger_state"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    mailing_id: Mapped[int | None]  # the reminder mailing (delivery owns that table)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Reconfirmation(Base):
    """The yearly question to a participant of a multi-year network, and the answer."""

    __tablename__ = "reconfirmations"
    __table_args__ = (UniqueConstraint("invitation_id", "subscriber_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    year: Mapped[int]
    asked_at: Mapped[datetime | None]
    mailing_id: Mapped[int | None]
    answer: Mapped[ReconfirmAnswer | None] = mapped_column(
        _enum(ReconfirmAnswer, "reconfirm_answer"))
    answered_at: Mapped[datetime | None]
    answered_via: Mapped[str] = mapped_column(String(40), default="")  # web, coordinator
    comment: Mapped[str] = mapped_column(Text, default="")
