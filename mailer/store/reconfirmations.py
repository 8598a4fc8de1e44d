"""Yearly re-confirmation of a multi-year network: who was asked, and what they answered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.domain.registration import RegistrationHow, RegistrationStatus
from mailer.errors import MailerError, NotFound
from mailer.store.models import (
    InvitationRow,
    ReconfirmAnswer,
    Reconfirmation,
    RegistrationRow,
    Subscriber,
)
from mailer.store.registrations import cancel, register


def _check_year(invitation: InvitationRow, year: int) -> None:
    if not invitation.reconfirm or invitation.period_start is None:
        raise MailerError(f"{invitation.slug} has no yearly re-confirmation (period: in "
                          "issue.yaml)")
    assert invitation.period_end is not None
    if not invitation.period_start < year <= invitation.period_end:
        raise MailerError(f"{year} is not a year to re-confirm for {invitation.slug}; the "
                          f"network runs {invitation.period_start}–{invitation.period_end}, so "
                          f"the years are {invitation.period_start + 1}–{invitation.period_end}")


def to_ask(session: Session, invitation: InvitationRow, year: int) -> list[int]:
    """The registered participants not asked for ``year`` yet: whom ``ask_for_year`` asks,
    and what a dry run counts."""
    _check_year(invitation, year)
    asked = set(session.scalars(select(Reconfirmation.subscriber_id).where(
        Reconfirmation.invitation_id == invitation.id, Reconfirmation.year == year)))
    participants = session.scalars(select(RegistrationRow.subscriber_id).where(
        RegistrationRow.invitation_id == invitation.id,
        RegistrationRow.status == RegistrationStatus.registered)).all()
    return [sid for sid in participants if sid not in asked]


def ask_for_year(session: Session, invitation: InvitationRow, year: int, *,
                 now: datetime, mailing_id: int | None = None) -> list[int]:
    """Record the question for ``year`` to every registered participant not asked yet;
    returns their subscriber ids (the recipients of the re-confirmation mailing)."""
    new = to_ask(session, invitation, year)
    for sid in new:
        session.add(Reconfirmation(invitation_id=invitation.id, subscriber_id=sid, year=year,
                                   asked_at=now, mailing_id=mailing_id))
    session.flush()
    return new


def get_reconfirmation(session: Session, invitation_id: int, subscriber_id: int,
                       year: int) -> Reconfirmation | None:
    """The question for ``year`` to this participant, if it was asked."""
    return session.scalar(select(Reconfirmation).where(
        Reconfirmation.invitation_id == invitation_id,
        Reconfirmation.subscriber_id == subscriber_id, Reconfirmation.year == year))


def set_mailing(session: Session, invitation: InvitationRow, year: int,
                subscriber_ids: list[int], mailing_id: int) -> None:
    for rec in session.scalars(select(Reconfirmation).where(
            Reconfirmation.invitation_id == invitation.id, Reconfirmation.year == year,
            Reconfirmation.subscriber_id.in_(subscriber_ids))):
        rec.mailing_id = mailing_id
    session.flush()


def record_reconfirmation(session: Session, invitation: InvitationRow, subscriber: Subscriber,
                          year: int, answer: ReconfirmAnswer | str, *, now: datetime,
                          via: str = "web", comment: str = "") -> Reconfirmation:
    """Record a participant's answer for ``year`` (the web page and coordinators call this).

    "no" cancels their registration (the seat is freed, a wait-listed colleague moves up);
    changing a "no" back to "yes" registers them again if a seat is still free.
    """
    _check_year(invitation, year)
    answer = ReconfirmAnswer(answer)
    rec = get_reconfirmation(session, invitation.id, subscriber.id, year)
    reg = session.scalar(select(RegistrationRow).where(
        RegistrationRow.invitation_id == invitation.id,
        RegistrationRow.subscriber_id == subscriber.id))
    if rec is None and (reg is None or reg.status is not RegistrationStatus.registered):
        raise NotFound(f"{subscriber.email} is not a participant of {invitation.slug}; only "
                       "participants re-confirm")
    if rec is None:
        rec = Reconfirmation(invitation_id=invitation.id, subscriber_id=subscriber.id,
                             year=year)
        session.add(rec)
    previous = rec.answer
    if answer is ReconfirmAnswer.no and reg is not None \
            and reg.status is RegistrationStatus.registered:
        cancel(session, invitation, subscriber, now=now, note=f"declined {year}")
    elif answer is ReconfirmAnswer.yes and previous is ReconfirmAnswer.no and reg is not None \
            and reg.status is RegistrationStatus.cancelled:
        how = RegistrationHow.coordinator if via == "coordinator" else RegistrationHow.form
        register(session, invitation, subscriber, how=how, now=now,
                 source=f"re-confirmed {year}", late_ok=True)
    rec.answer = answer
    rec.answered_at = now
    rec.answered_via = via
    rec.comment = comment
    session.flush()
    return rec


@dataclass(frozen=True, slots=True)
class YearStatus:
    email: str
    name: str
    organisation: str
    asked_at: datetime | None
    answer: ReconfirmAnswer | None


def year_status(session: Session, invitation: InvitationRow, year: int) -> list[YearStatus]:
    rows = session.scalars(select(Reconfirmation).where(
        Reconfirmation.invitation_id == invitation.id, Reconfirmation.year == year)).all()
    subs = {s.id: s for s in session.scalars(select(Subscriber).where(
        Subscriber.id.in_([r.subscriber_id for r in rows])))}
    out = []
    for r in rows:
        sub = subs[r.subscriber_id]
        org = sub.organisation.name if sub.organisation is not None else ""
        out.append(YearStatus(sub.email, sub.name, org, r.asked_at, r.answer))
    return sorted(out, key=lambda y: (y.organisation.casefold(), y.email))
