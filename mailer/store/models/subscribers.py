"""Organisations, subscribers, lists, subscriptions and the consent log."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailer.store.models.base import Base, JSONType, utcnow
from mailer.typing import JSON


class OrgKind(enum.StrEnum):
    municipality = "municipality"
    region = "region"
    other = "other"


class SubscriptionStatus(enum.StrEnum):
    unconfirmed = "unconfirmed"
    active = "active"
    unsubscribed = "unsubscribed"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings (no native ENUM type) so adding a value needs no DDL.
    return Enum(cls, name=name, native_enum=False, length=20,
                values_callable=lambda e: [m.value for m in e])


class Organisation(Base):
    """A municipality, region or other body; seats in invitations are counted per organisation."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Case-folded name: "Hylte kommun" and "HYLTE KOMMUN" are one organisation.
    name_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[OrgKind] = mapped_column(_enum(OrgKind, "org_kind"), default=OrgKind.other)
    code: Mapped[str | None] = mapped_column(String(20), unique=True)  # e.g. SCB kommunkod
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscriber(Base):
    """A person we may send mail to. ``email_key`` is the case-insensitive identity."""

    __tablename__ = "subscribers"
    # SQLite would otherwise reuse the highest deleted id: an erased person's old signed
    # links (unsubscribe, preferences) must never open a newcomer's page.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    role: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(5), default="sv")
    attributes: Mapped[JSON] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation | None] = relationship(lazy="joined")
    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", passive_deletes=True
    )


class MailingList(Base):
    """A list people subscribe to; mailings target lists."""

    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    public: Mapped[bool] = mapped_column(default=True)
    double_opt_in: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str] = mapped_column(String(5), default="sv")
    # The newsletter it is: a [brands.<name>] of mailer.toml ("" = the workspace's [brand]).
    brand: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscription(Base):
    """One subscriber on one list, with its status and when it changed."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "list_id"),
        Index("ix_subscriptions_list_status", "list_id", "status"),
        # The few ended subscriptions, by when (sender health's "unsubscribed after this
        # mailing", ``suppressions.health_counts``); partial, so an import's new
        # subscriptions (no end) cost it nothing.
        Index("ix_subscriptions_unsubscribed_at", "unsubscribed_at",
              postgresql_where=text("unsubscribed_at IS NOT NULL"),
              sqlite_where=text("unsubscribed_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    status: Mapped[SubscriptionStatus] = mapped_column(
        _enum(SubscriptionStatus, "subscription_status"), default=SubscriptionStatus.unconfirmed
    )
    source: Mapped[str] = mapped_column(String(100), default="")  # import:file.csv, form, api…
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    list: Mapped[MailingList] = relationship(lazy="joined")


class SubscriptionTally(Base):
    """Each list's subscriptions per status, kept by the database (migration 0020), so the
    dashboard, the lists and the API's lists sum a few rows (``store.lists.list_counts``)
    where counting a million subscriptions per view took 0.1 s (SQLite) and more on
    PostgreSQL (README, Admin pages at a million).

    Triggers on ``subscriptions`` write every insert, status or list change and delete
    here in the same transaction (sign-ups, confirmations, unsubscribes, imports, erasure
    and a list's deletion through ``ON DELETE CASCADE`` alike), so the tally a reader sees
    is exactly that of the rows its snapshot sees.

    - SQLite (one writer at a time): one row per list and status, updated in place.
    - PostgreSQL: statement triggers append one row per list and status a statement
      changed (``n`` may be negative) from its transition tables, so concurrent sign-ups
      and an import never wait on a shared counter row; ``store.lists.compact_list_tally``
      folds them into one row each (the worker does it every heartbeat).

    SQLite drops a table's triggers when a migration rebuilds it (``batch_alter_table``):
    a migration that rebuilds ``subscriptions`` must create them again
    (``0020.sqlite_triggers``).
    """

    __tablename__ = "subscription_tally"
    __table_args__ = (Index("ix_subscription_tally_list", "list_id", "status"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    list_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    n: Mapped[int] = mapped_column(BigInteger)


class ConsentEvent(Base):
    """Append-only log of consent: who agreed to or withdrew from what, when, where, how.

    Survives erasure of the subscriber (``subscriber_id`` set to NULL, e-mail kept only as
    a salted hash) so we can still show that consent existed for mail already sent.
    """

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="SET NULL"))
    email_hash: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(40))  # subscribe, confirm, unsubscribe, import…
    source: Mapped[str] = mapped_column(String(200), default="")
    ip: Mapped[str | None] = mapped_column(String(45))
    wording: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
