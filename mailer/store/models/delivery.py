"""Mailings, the outbox (one row per mailing and recipient), workers and locks."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TypedDict

from sqlalchemy import (
    BigInteger,
    Enum,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mailer.store.models.base import Base, JSONType, utcnow


class AttachmentHeader(TypedDict):
    """One file attached to every copy of a mailing (``data`` is base64)."""

    filename: str
    content_type: str
    data: str


class MailingHeaders(TypedDict, total=False):
    """``Mailing.headers``: the header facts decided at planning (see delivery.message)."""

    mid_salt: str
    list_slug: str
    list_name: str
    unsubscribe_mailto: str
    attachments: list[AttachmentHeader]
    exclude_received_from: list[int]  # earlier mailings of the issue (a send --again)
    # Click statistics (opt-in): the tracked link targets, by position; per_person is the
    # workspace setting at planning time (the privacy text said so when it was true).
    click_links: list[str]
    click_per_person: bool


class MailingKind(enum.StrEnum):
    newsletter = "newsletter"
    invitation = "invitation"
    reminder = "reminder"
    confirmation = "confirmation"
    test = "test"


#: Kinds sent one by one in answer to what someone just did (a sign-up's confirmation, a
#: test send): delivered before the copies of a bulk mailing, which can wait minutes.
TRANSACTIONAL = frozenset({MailingKind.confirmation, MailingKind.test})


class MailingStatus(enum.StrEnum):
    draft = "draft"  # planned rows may exist; nothing is sent until scheduled/sending
    scheduled = "scheduled"  # waits for scheduled_at
    sending = "sending"  # the worker delivers its due outbox rows
    paused = "paused"  # rows stay queued; resume continues
    cancelled = "cancelled"  # queued rows were skipped; nothing more is sent
    done = "done"  # every row is in a final state
    missed = "missed"  # its time passed beyond the misfire grace while no worker ran


class OutboxStatus(enum.StrEnum):
    queued = "queued"
    sending = "sending"  # claimed by a worker; the only ambiguous state after a crash
    sent = "sent"
    retry = "retry"  # temporary failure; next_attempt_at says when
    failed = "failed"  # permanent failure (5xx) or attempts exhausted
    skipped = "skipped"  # consent withdrawn, mailing cancelled, recipient erased
    unknown = "unknown"  # timeout after DATA: may or may not have arrived; never re-sent


#: Outbox states that will not change any more.
FINAL = (OutboxStatus.sent, OutboxStatus.failed, OutboxStatus.skipped, OutboxStatus.unknown)
#: States whose ``outbox_tally`` rows also say the second a row reached them (its
#: ``sent_at``, else its ``updated_at``): the final ones and a retry, an attempt's outcome.
TIMED = (*FINAL, OutboxStatus.retry)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, native_enum=False, length=20,
                values_callable=lambda e: [m.value for m in e])


class Mailing(Base):
    """One send of rendered content to lists or explicit recipients; parts stored once."""

    __tablename__ = "mailings"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[MailingKind] = mapped_column(_enum(MailingKind, "mailing_kind"))
    name: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str] = mapped_column(String(1000), default="")  # issue folder, invitation…
    status: Mapped[MailingStatus] = mapped_column(
        _enum(MailingStatus, "mailing_status"), default=MailingStatus.draft, index=True
    )
    list_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    subject: Mapped[str] = mapped_column(String(998))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5), default="sv")
    preheader: Mapped[str] = mapped_column(String(500), default="")
    # Header facts decided at planning: List-Id, sender, extra options (see delivery.message).
    headers: Mapped[MailingHeaders] = mapped_column(JSONType, default=dict)
    scheduled_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # After this moment no copy goes out (a reminder is worthless after its deadline, even
    # when the SMTP server was down until then): open rows become ``skipped``.
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")  # why missed/cancelled, by whom
    # Conditions narrowing the target lists ("org.kind=region"), evaluated in SQL when the
    # mailing is planned and again when a scheduled one starts; [] = the whole lists.
    audience: Mapped[list[str]] = mapped_column(JSONType, default=list)
    segment: Mapped[str] = mapped_column(String(100), default="")  # the saved segment's name
    # When copies may land ("Mon-Fri 08:00-17:00"); "" = the workspace's send_window,
    # "off" = any time. The worker moves due times into the window.
    send_window: Mapped[str] = mapped_column(String(100), default="")
    # The newsletter's brand, decided at planning (services.brands), and the From and
    # Reply-To it signs with then; "" = the workspace's MAILER_FROM / MAILER_REPLY_TO.
    brand: Mapped[str] = mapped_column(String(64), default="", index=True)
    sender: Mapped[str] = mapped_column(String(400), default="")
    reply_to: Mapped[str] = mapped_column(String(400), default="")


#: Final states that are not a delivery, as SQL with the values written out: a partial
#: index on them is used only by a query that says so in the same words (SQLite cannot
#: tell what a bound parameter will be).
NOT_DELIVERED_SQL = "status IN ({})".format(", ".join(
    f"'{s.value}'" for s in (OutboxStatus.skipped, OutboxStatus.failed, OutboxStatus.unknown)))
#: The start of a copy's reply that its reason is read from (``domain.outcomes.reason_of``
#: looks at its beginning; a reason's example is shown up to this long).
REPLY_PREFIX = "substr(last_reply, 1, 200)"


class OutboxRow(Base):
    """One message to one recipient of one mailing: the ledger row before the send."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("mailing_id", "email_key"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # A mailing's copies by status; "has it a copy due now?" in one seek
        # (``outbox.due_mailings``); and the claim's order, so a claim walks only the
        # rows it takes (``outbox.claim_batch``, per mailing: due time, then id).
        Index("ix_outbox_claim", "mailing_id", "status", "next_attempt_at", "id"),
        # The copies not delivered with the start of their reply, only those (partial):
        # a mailing's reasons (``outbox.not_delivered``) read from the index alone, where
        # they were read copy by copy; a delivered copy costs it nothing (migration 0021).
        Index("ix_outbox_not_delivered", "mailing_id", "status", text(REPLY_PREFIX),
              sqlite_where=text(NOT_DELIVERED_SQL), postgresql_where=text(NOT_DELIVERED_SQL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign keys on this table (migration 0015): PostgreSQL checks a foreign key row
    # by row, and the two checks were half the time of planning a million copies. The
    # references hold by construction: rows are written only by ``store.outbox``'s
    # planning, in the transaction that made or read the mailing, from the subscribers
    # table in the same statement; mailings are never deleted; erasing a subscriber
    # deletes their rows (``store.subscribers.erase_subscriber``, by id and by address),
    # and a row whose subscriber is gone (planned while an erasure committed) is deleted
    # at the claim, never sent.
    mailing_id: Mapped[int] = mapped_column(Integer)
    subscriber_id: Mapped[int | None] = mapped_column(Integer, index=True)
    list_id: Mapped[int | None] = mapped_column(Integer)  # the list named in List-Unsubscribe
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    fields: Mapped[dict[str, str] | None] = mapped_column(JSONType)  # per-recipient extras
    status: Mapped[OutboxStatus] = mapped_column(
        _enum(OutboxStatus, "outbox_status"), default=OutboxStatus.queued
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_reply: Mapped[str] = mapped_column(String(1000), default="")
    message_id: Mapped[str] = mapped_column(String(250), default="")
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxTally(Base):
    """How many outbox rows each mailing has in each status, kept by the database itself.

    Triggers on ``outbox`` (migration 0016) write every status change and delete here in
    the same transaction, and the two functions that insert rows (``store.outbox``'s
    planning) add the count they inserted, so a progress read sums a few rows
    (``store.outbox.counts``) where counting a million-copy mailing's rows took about a
    second on PostgreSQL while it sent (README, Large mailings), and grew with every
    mailing ever sent on the dashboard. Exact by construction: a reader sees the tally of
    exactly the rows its snapshot sees.

    - SQLite (one writer at a time): one row per mailing and status, updated in place.
    - PostgreSQL: statement triggers append one row per mailing and status a statement
      changed (``n`` may be negative) from the statement's transition tables, so
      concurrent workers never wait on a shared counter row; ``store.outbox.compact_tally``
      folds them into one row each (the worker does it every heartbeat).

    For the ``TIMED`` states a row also carries ``at``, the second in which the rows it
    counts reached that state (their ``sent_at``, else their ``updated_at``; migration
    0017), so a mailing's chart and the last delivery are summed from these rows too
    (``store.outbox.outcome_seconds``, ``last_delivery``): one row per second with
    outcomes, where reading them from the outbox scanned every copy. ``at`` is NULL for
    the other states.

    SQLite drops a table's triggers when a migration rebuilds it (``batch_alter_table``):
    a migration that rebuilds ``outbox`` must create them again (``0017.sqlite_triggers``).
    """

    __tablename__ = "outbox_tally"
    __table_args__ = (Index("ix_outbox_tally_mailing", "mailing_id", "status", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    mailing_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime | None]  # the second, for the TIMED states
    n: Mapped[int] = mapped_column(BigInteger)


class Worker(Base):
    """A running worker process and its heartbeat (to tell dead claims from live ones)."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    role: Mapped[str] = mapped_column(String(40), default="worker")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lock(Base):
    """A named lease (e.g. "scheduler"): one holder until it expires or its process dies."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class SmtpBucket(Base):
    """The shared rate-limit state of one SMTP server (every worker process takes from it).

    Two token buckets (per second and per hour) refilled lazily from ``stamp`` (Unix
    seconds) whenever a process takes tokens; one row per server, updated atomically.
    """

    __tablename__ = "smtp_buckets"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    tokens_second: Mapped[float] = mapped_column(Float, default=0.0)
    tokens_hour: Mapped[float] = mapped_column(Float, default=0.0)
    stamp: Mapped[float] = mapped_column(Float, default=0.0)
