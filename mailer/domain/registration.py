"""Registration states and the seat rule per organisation (pure; the store enforces it)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mailer.domain.findings import msg, msgn


class RegistrationStatus(enum.StrEnum):
    registered = "registered"
    waitlisted = "waitlisted"
    cancelled = "cancelled"
    transferred = "transferred"  # the seat went to a colleague (transferred_to)


class RegistrationHow(enum.StrEnum):
    form = "form"  # our registration page
    import_ = "import"  # a CSV from an external registration system
    coordinator = "coordinator"  # marked by hand (mailer registrations add / transfer)


#: Statuses that hold a seat, and statuses that mean "has answered" (no reminder).
HOLDS_SEAT = frozenset({RegistrationStatus.registered})
ANSWERED = frozenset(RegistrationStatus)


class SeatOutcome(enum.StrEnum):
    registered = "registered"
    waitlisted = "waitlisted"
    full = "full"


@dataclass(frozen=True, slots=True)
class SeatCheck:
    """The outcome of asking for one more seat for an organisation."""

    outcome: SeatOutcome
    taken: int
    limit: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.taken, 0)


def check_seat(taken: int, limit: int, *, waitlist: bool) -> SeatCheck:
    """One more registration for an organisation that already holds ``taken`` seats."""
    if taken < limit:
        return SeatCheck(SeatOutcome.registered, taken, limit)
    return SeatCheck(SeatOutcome.waitlisted if waitlist else SeatOutcome.full, taken, limit)


def seats_full_message(organisation: str, holders: list[str], limit: int,
                       *, waitlist: bool = False) -> str:
    """The refusal a coordinator reads: which organisation, who holds the seats, what to do."""
    taken = msgn("%(organisation)s already has %(taken)s of %(n)s seat", "%(organisation)s "
                 "already has %(taken)s of %(n)s seats", limit, organisation=organisation,
                 taken=len(holders))
    who = ", ".join(holders) if holders else msg("nobody listed")
    if waitlist:
        return msg("%(taken)s (held by %(who)s); the registration was put on the wait list",
                   taken=taken, who=who)
    return msg("%(taken)s (held by %(who)s); cancel or transfer one of those registrations "
               "first (mailer registrations cancel / transfer)", taken=taken, who=who
               ).with_api(msg("%(taken)s (held by %(who)s); one of those registrations must "
                              "be cancelled or transferred first, which the API does not do",
                              taken=taken, who=who))
