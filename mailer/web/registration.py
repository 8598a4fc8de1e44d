"""What the registration pages need from the invitations area: a small seam.

The pages show an invitation's key facts and register the person behind a signed link
through a ``RegistrationDesk``; they never touch the invitation tables themselves.
``StoreDesk`` (``mailer.web.invitation_desk``) calls ``mailer.services.invitations``, which
also queues the confirmation mail; ``StaticDesk`` keeps invitations in memory (tests,
previews) and sends nothing. ``create_app(..., desk=...)`` takes either.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from mailer.services.invitations import (
    InvitationFacts,
    MeetingFact,
    Outcome,
    Registrant,
    RegistrationResult,
)

__all__ = ["InvitationFacts", "MeetingFact", "Outcome", "Registrant",
           "RegistrationResult", "RegistrationDesk", "StaticDesk"]


class RegistrationDesk(Protocol):
    def facts(self, invitation_id: int) -> InvitationFacts | None: ...

    def registrant(self, invitation_id: int, subscriber_id: int) -> Registrant | None: ...

    def register(self, invitation_id: int, subscriber_id: int, *, name: str,
                 organisation: str, now: datetime) -> RegistrationResult: ...


@dataclass
class StaticDesk:
    """Invitations, people and seats held in memory."""

    invitations: dict[int, InvitationFacts] = field(default_factory=dict)
    people: dict[int, Registrant] = field(default_factory=dict)
    seats: dict[tuple[int, str], list[int]] = field(default_factory=dict)  # (inv, org) -> ids

    def facts(self, invitation_id: int) -> InvitationFacts | None:
        return self.invitations.get(invitation_id)

    def _taken(self, invitation_id: int, organisation: str) -> list[int]:
        return self.seats.setdefault((invitation_id, organisation.casefold()), [])

    def registrant(self, invitation_id: int, subscriber_id: int) -> Registrant | None:
        person = self.people.get(subscriber_id)
        if person is None:
            return None
        taken = self._taken(invitation_id, person.organisation)
        return replace(person, seats_taken=len(taken), registered=subscriber_id in taken)

    def register(self, invitation_id: int, subscriber_id: int, *, name: str,
                 organisation: str, now: datetime) -> RegistrationResult:
        inv = self.invitations[invitation_id]
        taken = self._taken(invitation_id, organisation)
        if subscriber_id in taken:
            return RegistrationResult(Outcome.already, len(taken))
        if now >= inv.deadline:
            return RegistrationResult(Outcome.closed, len(taken))
        if len(taken) >= inv.seats_max:
            holders = tuple(self.people[i].name for i in taken if i in self.people)
            return RegistrationResult(Outcome.seats_full, len(taken), holders)
        taken.append(subscriber_id)
        self.people[subscriber_id] = replace(self.people[subscriber_id], name=name,
                                             organisation=organisation)
        return RegistrationResult(Outcome.registered, len(taken))
