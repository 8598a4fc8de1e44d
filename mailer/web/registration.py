"""What the registration pages need from the invitations area: a small seam.

The pages show an invitation's key facts and register the person behind a signed link
through a ``RegistrationDesk``; they never touch the invitation tables themselves.
``StaticDesk`` keeps invitations in memory (tests, previews). Integration: an adapter
over the invitations store (``get_invitation(lock=True)``, ``register``, ``SeatsFull``,
the invitation folder's meetings and cost, ``render/ics.py``) implements the same three
methods; ``create_app(..., desk=...)`` takes it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True, slots=True)
class MeetingFact:
    day: date
    start: time | None = None
    end: time | None = None
    place: str = ""
    online: bool = False
    platform: str = ""
    title: str = ""


@dataclass(frozen=True, slots=True)
class CostFact:
    free: bool = False
    amount: Decimal | None = None
    per: str = "person"  # person | organisation
    period: str = "year"  # year | once


@dataclass(frozen=True, slots=True)
class InvitationFacts:
    """The key facts shown above the form."""

    invitation_id: int
    slug: str
    title: str
    deadline: datetime  # aware, UTC
    seats_max: int
    meetings: tuple[MeetingFact, ...] = ()
    cost: CostFact = field(default_factory=CostFact)
    transferable: bool = False
    waitlist: bool = False


@dataclass(frozen=True, slots=True)
class Registrant:
    """The person behind the link, as the form is pre-filled."""

    subscriber_id: int
    email: str
    name: str
    organisation: str
    language: str
    seats_taken: int  # registered seats of their organisation for this invitation
    registered: bool  # already holds a seat (or a wait-list place)

    @property
    def masked_email(self) -> str:
        local, _, domain = self.email.partition("@")
        return f"{local[:2]}…@{domain}"


class Outcome(enum.StrEnum):
    registered = "registered"
    waitlisted = "waitlisted"
    already = "already"
    seats_full = "seats_full"
    closed = "closed"


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    outcome: Outcome
    seats_taken: int = 0
    holders: tuple[str, ...] = ()  # who holds the organisation's seats (for "full")
    ics: bytes | None = None  # calendar attachment for the confirmation mail


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
    ics: bytes | None = None

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
        return RegistrationResult(Outcome.registered, len(taken), ics=self.ics)
