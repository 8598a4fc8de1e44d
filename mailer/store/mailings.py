"""Mailing rows: create, find, start when due, and the reads behind progress and archive.

Set-based outbox work (plan, claim, record) is in ``store.outbox``; this module holds the
queries on the ``mailings`` table itself. Every function works inside the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, load_only

from mailer.domain.outcomes import NOTE_MISSED, NOTE_NOBODY, note
from mailer.domain.segments import parse_all
from mailer.store import outbox, webhooks
from mailer.store.models import (
    Mailing,
    MailingKind,
    MailingList,
    MailingStatus,
)


def add(session: Session, mailing: Mailing) -> Mailing:
    """Store a new mailing and give it its id."""
    session.add(mailing)
    session.flush()
    return mailing


def get(session: Session, mailing_id: int) -> Mailing | None:
    return session.get(Mailing, mailing_id)


def latest_brand(session: Session, source: str,
                 kind: MailingKind | None = None) -> str | None:
    """The brand of the newest mailing from ``source`` (of ``kind``); None when none."""
    q = select(Mailing.brand).where(Mailing.source == source)
    if kind is not None:
        q = q.where(Mailing.kind == kind)
    return session.scalar(q.order_by(Mailing.id.desc()).limit(1))


def latest_named(session: Session, name: str) -> Mailing | None:
    """The newest mailing with exactly this name."""
    return session.scalar(select(Mailing).where(Mailing.name == name)
                          .order_by(Mailing.id.desc()).limit(1))


def newest_first(session: Session, mailing_ids: Sequence[int] | None = None, *,
                 limit: int | None = None, offset: int = 0) -> list[Mailing]:
    """Every mailing (or those of ``mailing_ids``), newest first; a page of them with
    ``limit`` and ``offset``."""
    q = select(Mailing).order_by(Mailing.id.desc()).offset(offset).limit(limit)
    if mailing_ids is not None:
        q = q.where(Mailing.id.in_(mailing_ids))
    return list(session.scalars(q))


def count_mailings(session: Session) -> int:
    """How many mailings there are (all kinds)."""
    return session.scalar(select(func.count()).select_from(Mailing)) or 0


def sources(session: Session) -> list[tuple[int, str, MailingKind, MailingStatus]]:
    """(id, source, kind, status) of every mailing, newest first."""
    return [(mid, src, MailingKind(kind), MailingStatus(status))
            for mid, src, kind, status in session.execute(
                select(Mailing.id, Mailing.source, Mailing.kind, Mailing.status)
                .order_by(Mailing.id.desc()))]


def scheduled_times(session: Session) -> dict[int, datetime]:
    """When each scheduled mailing is due to start."""
    return {mid: at for mid, at in session.execute(
        select(Mailing.id, Mailing.scheduled_at)
        .where(Mailing.status == MailingStatus.scheduled)) if at is not None}


@dataclass
class DueReport:
    started: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    nobody: list[int] = field(default_factory=list)  # cancelled: nobody to send to


def start_due(session: Session, now: datetime, grace_seconds: int,
              only: int | None = None, tz: tzinfo = UTC) -> DueReport:
    """Start scheduled mailings whose time has come; mark those past the grace missed
    (the note names its time in ``tz``, the workspace's time zone), and cancel those with
    nobody to send to (``report.nobody``).

    Harmless to run twice: a mailing leaves ``scheduled`` the first time.
    """
    report = DueReport()
    q = select(Mailing).where(Mailing.status == MailingStatus.scheduled,
                              Mailing.scheduled_at <= now)
    if only is not None:
        q = q.where(Mailing.id == only)
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    for m in session.scalars(q):
        assert m.scheduled_at is not None
        late = now - m.scheduled_at
        if late > timedelta(seconds=grace_seconds):
            m.status = MailingStatus.missed
            m.finished_at = now
            n = outbox.skip_pending(session, m.id, now, "not sent: the mailing was missed")
            due = f"{m.scheduled_at.astimezone(tz):%Y-%m-%d %H:%M} ({tz})"
            m.note = note(NOTE_MISSED, due=due,
                          late=f"{late.total_seconds():.0f}", grace=grace_seconds, n=n)
            webhooks.mailing_cancelled(session, m, "missed", not_sent=n,
                                       counts=outbox.counts(session, [m.id]).get(m.id, {}),
                                       now=now)
            report.missed.append(m.id)
        else:
            # subscribed (or started to match the conditions) meanwhile, still leaving out
            # who got an earlier send of the issue
            outbox.plan_lists(session, m.id, m.list_ids, now, parse_all(m.audience or []),
                              exclude_received_from=list(
                                  (m.headers or {}).get("exclude_received_from", [])))
            if not outbox.counts(session, [m.id]):
                # Nobody to send to at its time (its lists are empty, no one meets its
                # conditions): cancelled, saying so. Like a send now to nobody (refused,
                # services.mailings.NobodyToSend) it must not look like a send done, nor
                # count as the send when people subscribe later.
                m.status = MailingStatus.cancelled
                m.finished_at = now
                m.note = note(NOTE_NOBODY)
                webhooks.mailing_cancelled(session, m, "nobody", not_sent=0, counts={},
                                           now=now)
                report.nobody.append(m.id)
            else:
                m.status = MailingStatus.sending
                m.started_at = now
                report.started.append(m.id)
        m.updated_at = now
    return report


#: What a "view in browser" link may show besides newsletters: the letters that went to
#: a whole list (an invitation and its reminders) and test copies (they have no lists, so
#: only their signed link shows them), not the one-to-one confirmations.
VIEWABLE_KINDS = (MailingKind.newsletter, MailingKind.invitation, MailingKind.reminder,
                  MailingKind.test)


def archived_newsletters(session: Session, mailing_id: int | None = None, *,
                         bodies: bool = True,
                         kinds: tuple[MailingKind, ...] = (MailingKind.newsletter,)
                         ) -> list[Mailing]:
    """Mailings of ``kinds`` (newsletters) that started sending (sending or done), newest
    first; without ``bodies`` the HTML and text are not loaded (the archive's list
    pages)."""
    q = (select(Mailing)
         .where(Mailing.kind.in_(kinds),
                Mailing.status.in_((MailingStatus.sending, MailingStatus.done)),
                Mailing.started_at.is_not(None))
         .order_by(Mailing.started_at.desc(), Mailing.id.desc()))
    if mailing_id is not None:
        q = q.where(Mailing.id == mailing_id)
    if not bodies:
        q = q.options(load_only(Mailing.id, Mailing.subject, Mailing.preheader,
                                Mailing.language, Mailing.list_ids, Mailing.started_at,
                                Mailing.created_at, Mailing.brand, Mailing.source))
    return list(session.scalars(q))


def list_slugs(session: Session, list_ids: set[int]) -> dict[int, str]:
    """The slug of each list id (for the lists a mailing went to)."""
    if not list_ids:
        return {}
    return {lid: slug for lid, slug in session.execute(
        select(MailingList.id, MailingList.slug).where(MailingList.id.in_(list_ids)))}

