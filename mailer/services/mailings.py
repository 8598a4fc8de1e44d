"""Mailing use cases: plan (now or at a time), pause, resume, cancel, start due, progress."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.delivery.message import clean_header_value
from mailer.errors import MailerError, NotFound
from mailer.render.types import RenderedMailing
from mailer.store import outbox
from mailer.store.lists import get_list
from mailer.store.models import Mailing, MailingKind, MailingStatus, OutboxStatus
from mailer.store.outbox import PlannedRecipient

__all__ = ["PlannedRecipient", "plan_mailing", "pause", "resume", "cancel", "start_due",
           "progress", "get_mailing", "MailingProgress", "DueReport"]


def plan_mailing(
    session: Session,
    rendered: RenderedMailing,
    *,
    kind: MailingKind | str,
    now: datetime,
    name: str = "",
    source: str = "",
    list_slugs: Sequence[str] = (),
    recipients: Iterable[PlannedRecipient] | None = None,
    at: datetime | None = None,
    expires_at: datetime | None = None,
    unsubscribe_mailto: str = "",
) -> tuple[Mailing, int]:
    """Store the rendered parts once and queue one outbox row per recipient.

    ``list_slugs`` targets every active subscriber of those lists (set-based); and/or
    ``recipients`` names people explicitly (reminders, tests). Without ``at`` the
    mailing is sending at once; with ``at`` (aware, future) it is scheduled and
    re-planned when it starts, so people who subscribe meanwhile get it too.
    With ``expires_at``, copies not sent by then are skipped (reminders: the deadline).
    Returns the mailing and the number of rows queued.
    """
    kind = MailingKind(kind)
    clean_header_value(rendered.subject, "the subject")
    if not rendered.subject.strip():
        raise MailerError("the mailing has no subject")
    if at is not None:
        if at.tzinfo is None:
            raise MailerError("the send time must carry a time zone")
        if at <= now:
            raise MailerError(f"the send time {at:%Y-%m-%d %H:%M %Z} is in the past; "
                              "leave out --at to send now")
    lists = [get_list(session, slug) for slug in list_slugs]
    if not lists and recipients is None:
        raise MailerError("a mailing needs at least one list (--list SLUG) or recipients")
    headers: dict[str, str] = {"mid_salt": secrets.token_hex(4)}
    if lists:
        headers["list_slug"] = lists[0].slug
        headers["list_name"] = lists[0].name
    if unsubscribe_mailto:
        headers["unsubscribe_mailto"] = unsubscribe_mailto
    if rendered.attachments:
        headers["attachments"] = [  # type: ignore[assignment]
            {"filename": a.filename, "content_type": a.content_type,
             "data": base64.b64encode(a.data).decode("ascii")} for a in rendered.attachments]
    mailing = Mailing(
        kind=kind, name=name or rendered.subject, source=source,
        status=MailingStatus.scheduled if at else MailingStatus.sending,
        list_ids=[lst.id for lst in lists], subject=rendered.subject, html=rendered.html,
        text=rendered.text, language=rendered.language, preheader=rendered.preheader,
        headers=headers, scheduled_at=at, started_at=None if at else now,
        expires_at=expires_at,
    )
    session.add(mailing)
    session.flush()
    planned = outbox.plan_lists(session, mailing.id, mailing.list_ids, now)
    if recipients is not None:
        planned += outbox.plan_explicit(session, mailing.id, _checked(recipients), now)
    return mailing, planned


def _checked(recipients: Iterable[PlannedRecipient]) -> list[PlannedRecipient]:
    out = []
    for r in recipients:
        clean_header_value(r.email, "a recipient address")
        clean_header_value(r.name, "a recipient name")
        if "@" not in r.email:
            raise MailerError(f"{r.email!r} is not an e-mail address")
        out.append(r)
    return out


def get_mailing(session: Session, ref: str | int) -> Mailing:
    """A mailing by id (``12``) or exact name."""
    m = None
    if isinstance(ref, int) or str(ref).isdigit():
        m = session.get(Mailing, int(ref))
    else:
        m = session.scalar(select(Mailing).where(Mailing.name == ref).order_by(Mailing.id.desc()))
    if m is None:
        raise NotFound(f"no mailing {ref!r}; see 'mailer mailings' for the list")
    return m


def pause(session: Session, ref: str | int, now: datetime) -> Mailing:
    m = get_mailing(session, ref)
    if m.status not in (MailingStatus.sending, MailingStatus.scheduled):
        raise MailerError(f"mailing {m.id} is {m.status}; only a sending or scheduled "
                          "mailing can be paused")
    m.note = f"paused while {m.status}"
    m.status = MailingStatus.paused
    m.updated_at = now
    return m


def resume(session: Session, ref: str | int, now: datetime) -> Mailing:
    m = get_mailing(session, ref)
    if m.status is not MailingStatus.paused:
        raise MailerError(f"mailing {m.id} is {m.status}, not paused")
    # A scheduled mailing that never started goes back to waiting, even when its time has
    # passed: starting it is start_due's job, which re-plans people who subscribed meanwhile
    # and applies the misfire grace like for any late mailing.
    if m.scheduled_at is not None and m.started_at is None:
        m.status = MailingStatus.scheduled
    else:
        m.status = MailingStatus.sending
        m.started_at = m.started_at or now
    m.note = ""
    m.updated_at = now
    return m


def cancel(session: Session, ref: str | int, now: datetime) -> tuple[Mailing, int]:
    """Stop a mailing for good: rows not sent yet are skipped. Returns rows skipped."""
    m = get_mailing(session, ref)
    if m.status in (MailingStatus.done, MailingStatus.cancelled, MailingStatus.missed):
        raise MailerError(f"mailing {m.id} is {m.status} already")
    m.status = MailingStatus.cancelled
    m.finished_at = now
    m.updated_at = now
    skipped = outbox.skip_pending(session, m.id, now, "not sent: the mailing was cancelled")
    m.note = f"cancelled; {skipped} messages not sent"
    return m, skipped


@dataclass
class DueReport:
    started: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)


def start_due(session: Session, now: datetime, grace_seconds: int,
              only: int | None = None) -> DueReport:
    """Start scheduled mailings whose time has come; mark those past the grace missed.

    Harmless to run twice: a mailing leaves ``scheduled`` the first time.
    """
    report = DueReport()
    q = select(Mailing).where(Mailing.status == MailingStatus.scheduled,
                              Mailing.scheduled_at <= now)
    if only is not None:
        q = q.where(Mailing.id == only)
    for m in session.scalars(q.with_for_update() if _pg(session) else q):
        assert m.scheduled_at is not None
        late = now - m.scheduled_at
        if late > timedelta(seconds=grace_seconds):
            m.status = MailingStatus.missed
            m.finished_at = now
            n = outbox.skip_pending(session, m.id, now, "not sent: the mailing was missed")
            m.note = (f"missed: due {m.scheduled_at:%Y-%m-%d %H:%M} UTC, no worker ran until "
                      f"{late.total_seconds():.0f} s later (grace {grace_seconds} s); "
                      f"{n} messages not sent. Plan it again to send it.")
            report.missed.append(m.id)
        else:
            outbox.plan_lists(session, m.id, m.list_ids, now)  # subscribed meanwhile
            m.status = MailingStatus.sending
            m.started_at = now
            report.started.append(m.id)
        m.updated_at = now
    return report


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@dataclass(frozen=True, slots=True)
class MailingProgress:
    id: int
    kind: str
    name: str
    status: str
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    counts: dict[str, int]
    note: str

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return sum(self.counts.get(s, 0) for s in ("sent", "failed", "skipped", "unknown"))


def progress(session: Session, mailing_ids: Sequence[int] | None = None) -> list[MailingProgress]:
    """Every mailing (newest first) with its outbox rows per status."""
    q = select(Mailing).order_by(Mailing.id.desc())
    if mailing_ids is not None:
        q = q.where(Mailing.id.in_(mailing_ids))
    mailings = list(session.scalars(q))
    counts = outbox.counts(session, [m.id for m in mailings])
    return [MailingProgress(m.id, str(m.kind), m.name, str(m.status), m.scheduled_at,
                            m.started_at, m.finished_at, counts.get(m.id, {}), m.note)
            for m in mailings]


PENDING_STATES = {OutboxStatus.queued.value, OutboxStatus.retry.value,
                  OutboxStatus.sending.value}
