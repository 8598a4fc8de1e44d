"""``RegistrationDesk`` over the invitations store: what the registration pages use in production.

Facts come from ``issues/<slug>/issue.yaml`` (meetings, cost) and the synced invitation
row (deadline, seats); registering goes through ``mailer.store.registrations.register``
with the invitation row locked, so the seat rule holds under concurrent form posts.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine, func, select

from mailer.config import Settings
from mailer.domain.invitation import Invitation
from mailer.domain.registration import RegistrationHow, RegistrationStatus, SeatOutcome
from mailer.errors import MailerError
from mailer.render.ics import meetings_ics
from mailer.store.db import transaction
from mailer.store.invitations import get_invitation
from mailer.store.models import InvitationRow, RegistrationRow, Subscriber
from mailer.store.registrations import SeatsFull, find_or_create_organisation, register
from mailer.web.registration import (
    CostFact,
    InvitationFacts,
    MeetingFact,
    Outcome,
    Registrant,
    RegistrationResult,
)

log = logging.getLogger(__name__)


class StoreDesk:
    """The registration pages' seam, implemented on the database and issues/ folder."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def _invitation(self, slug: str) -> Invitation | None:
        from mailer.invitation_files import load_invitation

        try:
            return load_invitation(self.settings.workspace, slug,
                                   timezone=self.settings.timezone)
        except MailerError as exc:  # a broken or removed folder: the form is not open
            log.warning("registration page for %s: %s", slug, exc)
            return None

    def facts(self, invitation_id: int) -> InvitationFacts | None:
        with transaction(self.engine) as s:
            row = s.get(InvitationRow, invitation_id)
            if row is None:
                return None
            slug, deadline, seats = row.slug, row.deadline, row.seats_max
        inv = self._invitation(slug)
        if inv is None:
            return None
        c = inv.cost
        return InvitationFacts(
            invitation_id=invitation_id, slug=slug, title=inv.title, deadline=deadline,
            seats_max=seats,
            meetings=tuple(MeetingFact(m.date, m.start, m.end, m.place, m.is_online,
                                       m.platform, m.title) for m in inv.meetings),
            cost=CostFact(free=c.free, amount=c.amount, per=c.per.value,
                          period=c.period.value),
            transferable=inv.seats.transferable, waitlist=inv.seats.waitlist)

    def registrant(self, invitation_id: int, subscriber_id: int) -> Registrant | None:
        with transaction(self.engine) as s:
            sub = s.get(Subscriber, subscriber_id)
            if sub is None or s.get(InvitationRow, invitation_id) is None:
                return None
            status = s.scalar(select(RegistrationRow.status).where(
                RegistrationRow.invitation_id == invitation_id,
                RegistrationRow.subscriber_id == subscriber_id))
            taken = 0
            if sub.organisation_id is not None:
                taken = int(s.scalar(select(func.count()).select_from(RegistrationRow).where(
                    RegistrationRow.invitation_id == invitation_id,
                    RegistrationRow.organisation_id == sub.organisation_id,
                    RegistrationRow.status == RegistrationStatus.registered)) or 0)
            return Registrant(
                subscriber_id=sub.id, email=sub.email, name=sub.name,
                organisation=sub.organisation.name if sub.organisation else "",
                language=sub.language, seats_taken=taken,
                registered=status in (RegistrationStatus.registered,
                                      RegistrationStatus.waitlisted))

    def register(self, invitation_id: int, subscriber_id: int, *, name: str,
                 organisation: str, now: datetime) -> RegistrationResult:
        with transaction(self.engine) as s:
            row = s.get(InvitationRow, invitation_id)
            sub = s.get(Subscriber, subscriber_id)
            if row is None or sub is None:
                return RegistrationResult(Outcome.closed)
            row = get_invitation(s, row.slug, lock=True)
            if name and not sub.name:
                sub.name = name  # fill a gap; a form never overwrites a known name
            org = find_or_create_organisation(s, organisation)
            if sub.organisation_id is None:
                sub.organisation_id = org.id
            try:
                result = register(s, row, sub, how=RegistrationHow.form, now=now,
                                  source="web form", organisation=org)
            except SeatsFull:
                holders = tuple(s.scalars(
                    select(Subscriber.name).join(RegistrationRow,
                                                 RegistrationRow.subscriber_id == Subscriber.id)
                    .where(RegistrationRow.invitation_id == invitation_id,
                           RegistrationRow.organisation_id == org.id,
                           RegistrationRow.status == RegistrationStatus.registered)))
                return RegistrationResult(Outcome.seats_full, len(holders), holders)
            except MailerError:  # closed at the deadline
                return RegistrationResult(Outcome.closed)
            slug = row.slug
            taken = int(s.scalar(select(func.count()).select_from(RegistrationRow).where(
                RegistrationRow.invitation_id == invitation_id,
                RegistrationRow.organisation_id == org.id,
                RegistrationRow.status == RegistrationStatus.registered)) or 0)
        if result.outcome is None:
            return RegistrationResult(Outcome.already, taken)
        if result.outcome is SeatOutcome.waitlisted:
            return RegistrationResult(Outcome.waitlisted, taken)
        inv = self._invitation(slug)
        ics = (meetings_ics(inv, slug, domain=self.settings.sender.domain, now=now)
               if inv is not None and inv.meetings else None)
        return RegistrationResult(Outcome.registered, taken, ics=ics)
