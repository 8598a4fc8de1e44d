"""Reminder rules: when each reminder is due, which are missed, and who gets one.

Pure: ``now`` is always passed in. Times are aware datetimes; slot times are in UTC.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from mailer.domain.invitation import Invitation, ReminderOffset
from mailer.domain.registration import RegistrationStatus


class SlotState(enum.StrEnum):
    upcoming = "upcoming"  # its time has not come
    due = "due"  # send now
    missed = "missed"  # its time passed by more than the grace, or the deadline passed first
    superseded = "superseded"  # a later reminder is due too; only the latest one goes out
    skipped = "skipped"  # it fell before (or too soon after) the invitation went out


#: A reminder this soon after the invitation itself is noise; the slot is skipped.
MIN_GAP_AFTER_INVITATION = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ReminderSlot:
    """One reminder of an invitation: its offset and when it is due (UTC)."""

    offset: ReminderOffset
    at: datetime

    @property
    def key(self) -> str:
        return self.offset.key


def job_id(slug: str, offset_key: str) -> str:
    """The APScheduler job id of one reminder (replace_existing makes rescheduling idempotent)."""
    return f"remind:{slug}:{offset_key}"


def reminder_slots(deadline: datetime, offsets: Iterable[ReminderOffset],
                   at: time | None = None) -> list[ReminderSlot]:
    """The reminders of a deadline, earliest first; reminders in days at local ``at``
    when given (see ``ReminderOffset.before``)."""
    if deadline.tzinfo is None:
        raise ValueError("deadline must be an aware datetime")
    return sorted((ReminderSlot(o, o.before(deadline, at)) for o in set(offsets)),
                  key=lambda s: s.at)


def invitation_slots(invitation: Invitation) -> list[ReminderSlot]:
    return reminder_slots(invitation.deadline, invitation.reminder_offsets,
                          invitation.reminder_at)


def slot_states(slots: list[ReminderSlot], *, deadline: datetime, now: datetime,
                grace: timedelta, invited_at: datetime | None = None
                ) -> list[tuple[ReminderSlot, SlotState]]:
    """The state of every slot at ``now``.

    A slot is due from its time until its time + ``grace``, and never at or after the
    deadline. If several are due at once (the worker was down), only the latest is sent
    and the earlier ones are superseded: two reminders in one go would be noise.
    """
    _aware(now)
    out: list[tuple[ReminderSlot, SlotState]] = []
    for slot in slots:
        if invited_at is not None and slot.at < invited_at + MIN_GAP_AFTER_INVITATION:
            state = SlotState.skipped
        elif now < slot.at:
            state = SlotState.upcoming
        elif now >= deadline or now > slot.at + grace:
            state = SlotState.missed
        else:
            state = SlotState.due
        out.append((slot, state))
    due = [i for i, (_, st) in enumerate(out) if st is SlotState.due]
    for i in due[:-1]:
        out[i] = (out[i][0], SlotState.superseded)
    return out


def current_slot(slots: list[ReminderSlot], *, deadline: datetime,
                 now: datetime) -> ReminderSlot | None:
    """The reminder a coordinator's ``mailer remind`` sends at ``now``: the latest one whose
    time has come, or the next one (sent early, and then not repeated when its time comes);
    None at or after the deadline."""
    _aware(now)
    if now >= deadline or not slots:
        return None
    come = [s for s in slots if s.at <= now]
    return come[-1] if come else slots[0]


class Reason(enum.StrEnum):
    remind = "would be reminded"
    registered = "registered"
    waitlisted = "on the wait list"
    cancelled = "cancelled their registration"
    transferred = "transferred their seat"
    unsubscribed = "unsubscribed"
    suppressed = "on the suppression list"
    already_reminded = "already reminded"
    seats_full = "seats full for their organisation"
    closed = "the deadline has passed"


#: What a real (not dry) run calls those it reminded.
SENT = "reminded"

_STATUS_REASON = {
    RegistrationStatus.registered: Reason.registered,
    RegistrationStatus.waitlisted: Reason.waitlisted,
    RegistrationStatus.cancelled: Reason.cancelled,
    RegistrationStatus.transferred: Reason.transferred,
}


@dataclass(frozen=True, slots=True)
class InviteeState:
    """What the rules need to know about one invitee at one moment."""

    subscriber_id: int
    email: str
    name: str = ""
    organisation_id: int | None = None
    organisation: str = ""
    subscribed: bool = True
    suppressed: bool = False  # the address is on the suppression list: no mail goes to it
    registration: RegistrationStatus | None = None
    reminded: bool = False  # a reminder for this offset was already sent


@dataclass(frozen=True, slots=True)
class Decision:
    invitee: InviteeState
    reason: Reason
    detail: str = ""

    @property
    def remind(self) -> bool:
        return self.reason is Reason.remind

    def label(self, *, sent: bool = False) -> str:
        """The reason in words; once the reminder was really sent, its recipients were
        "reminded", not "would be reminded"."""
        return SENT if sent and self.remind else self.reason.value

    def line(self, *, sent: bool = False) -> str:
        """One line for ``mailer remind`` (``sent``: not a dry run)."""
        who = self.invitee.email
        org = f" ({self.invitee.organisation})" if self.invitee.organisation else ""
        extra = f": {self.detail}" if self.detail else ""
        return f"{who}{org}\t{self.label(sent=sent)}{extra}"


def classify(invitees: Iterable[InviteeState], *, seats_max: int,
             taken_by_org: Mapping[int, int], closed: bool = False) -> list[Decision]:
    """Who gets the reminder and why each other person does not.

    Order matters: an answer (registration in any state) says most, then consent and the
    suppression list, then the ledger, then seats: someone whose organisation is full
    cannot register anyway. ``closed``: the registration deadline has passed, so nobody
    is reminded (a dry run after the deadline says so for everyone it would have
    reminded).
    """
    out = []
    for p in invitees:
        if p.registration is not None:
            out.append(Decision(p, _STATUS_REASON[p.registration]))
        elif not p.subscribed:
            out.append(Decision(p, Reason.unsubscribed))
        elif p.suppressed:
            out.append(Decision(p, Reason.suppressed))
        elif p.reminded:
            out.append(Decision(p, Reason.already_reminded))
        elif p.organisation_id is not None and taken_by_org.get(p.organisation_id, 0) >= seats_max:
            taken = taken_by_org[p.organisation_id]
            out.append(Decision(p, Reason.seats_full, f"{taken} of {seats_max} taken"))
        elif closed:
            out.append(Decision(p, Reason.closed))
        else:
            out.append(Decision(p, Reason.remind))
    return out


def _aware(dt: datetime) -> None:
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: pass an aware datetime")
