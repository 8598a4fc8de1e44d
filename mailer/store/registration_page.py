"""What the built-in registration page shows a person, and what its buttons do.

The page is reached through a signed link (subscriber id + invitation id); these
functions take those ids, read or change the store in the caller's transaction, and
return plain values for the web layer to render.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.domain.registration import RegistrationHow, RegistrationStatus
from mailer.store.models import (
    InvitationRow,
    ReconfirmAnswer,
    Reconfirmation,
    RegistrationRow,
    Subscriber,
)
from mailer.store.reconfirmations import record_reconfirmation
from mailer.store.registrations import Registered, SeatsFull, register, seats_by_organisation


class PageState(enum.StrEnum):
    open = "open"  # may register now
    full = "full"  # the organisation's seats are taken, no wait list
    waitlist = "waitlist"  # seats taken, but the wait list is open
    registered = "registered"
    waitlisted = "waitlisted"
    closed = "closed"  # the deadline has passed
    no_organisation = "no_organisation"


@dataclass(frozen=True, slots=True)
class RegistrationPage:
    slug: str
    state: PageState
    email: str
    name: str
    organisation: str
    taken: int
    limit: int
    reconfirm_year: int | None = None  # a re-confirmation question is open for this year
    reconfirm_answer: ReconfirmAnswer | None = None

    @property
    def remaining(self) -> int:
        return max(self.limit - self.taken, 0)


def find(session: Session, slug: str, invitation_id: int,
         subscriber_id: int) -> tuple[InvitationRow, Subscriber] | None:
    """The invitation and person of a link, or None (erased, or the slug does not match)."""
    inv = session.get(InvitationRow, invitation_id)
    sub = session.get(Subscriber, subscriber_id)
    if inv is None or sub is None or inv.slug != slug:
        return None
    return inv, sub


def page(session: Session, inv: InvitationRow, sub: Subscriber, now: datetime) -> RegistrationPage:
    reg = session.scalar(select(RegistrationRow).where(
        RegistrationRow.invitation_id == inv.id, RegistrationRow.subscriber_id == sub.id))
    org = sub.organisation
    taken = 0
    if org is not None:
        taken = next((len(g.registered) for g in seats_by_organisation(session, inv)
                      if g.organisation == org.name), 0)
    rec = session.scalar(select(Reconfirmation).where(
        Reconfirmation.invitation_id == inv.id, Reconfirmation.subscriber_id == sub.id)
        .order_by(Reconfirmation.year.desc()).limit(1))
    if reg is not None and reg.status is RegistrationStatus.registered:
        state = PageState.registered
    elif reg is not None and reg.status is RegistrationStatus.waitlisted:
        state = PageState.waitlisted
    elif now >= inv.deadline:
        state = PageState.closed
    elif org is None:
        state = PageState.no_organisation
    elif taken >= inv.seats_max:
        state = PageState.waitlist if inv.waitlist else PageState.full
    else:
        state = PageState.open
    return RegistrationPage(
        inv.slug, state, sub.email, sub.name, org.name if org else "", taken, inv.seats_max,
        reconfirm_year=rec.year if rec is not None else None,
        reconfirm_answer=rec.answer if rec is not None else None)


def register_from_form(session: Session, inv: InvitationRow, sub: Subscriber,
                       now: datetime) -> Registered | SeatsFull:
    """Register through the page (the invitation row is locked first); a full organisation
    comes back as the SeatsFull error value for the page to explain."""
    session.execute(select(InvitationRow.id).where(InvitationRow.id == inv.id)
                    .with_for_update())
    try:
        return register(session, inv, sub, how=RegistrationHow.form, now=now,
                        source="web form")
    except SeatsFull as exc:
        return exc


def answer_from_form(session: Session, inv: InvitationRow, sub: Subscriber, year: int,
                     answer: str, now: datetime) -> Reconfirmation:
    return record_reconfirmation(session, inv, sub, year, answer, now=now, via="web")
