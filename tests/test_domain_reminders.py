"""Reminder rules with the clock passed in: due, missed, superseded, DST, who gets one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailer.domain.invitation import ReminderOffset
from mailer.domain.registration import RegistrationStatus, SeatOutcome, check_seat
from mailer.domain.reminders import (
    InviteeState,
    Reason,
    SlotState,
    classify,
    current_slot,
    job_id,
    reminder_slots,
    slot_states,
)

STHLM = ZoneInfo("Europe/Stockholm")
D7, D1, H12 = (ReminderOffset.parse(x) for x in ("7d", "1d", "12h"))
GRACE = timedelta(hours=1)
DEADLINE = datetime(2023, 2, 15, 23, 59, tzinfo=STHLM)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=STHLM)  # type: ignore[misc]


def states(now: datetime, invited_at: datetime | None = None) -> dict[str, SlotState]:
    slots = reminder_slots(DEADLINE, [D7, D1])
    return {s.key: st for s, st in slot_states(slots, deadline=DEADLINE, now=now, grace=GRACE,
                                                invited_at=invited_at)}


def test_slot_times_in_winter() -> None:
    s7, s1 = reminder_slots(DEADLINE, [D1, D7])
    assert s7.at == local(2023, 2, 8, 23, 59).astimezone(UTC)
    assert s1.at == local(2023, 2, 14, 23, 59).astimezone(UTC)
    assert s7.at.tzinfo is UTC and job_id("2023-natverk", s7.key) == "remind:2023-natverk:7d"


def test_due_upcoming_missed_and_nothing_after_the_deadline() -> None:
    assert states(local(2023, 2, 8, 12)) == {"7d": SlotState.upcoming, "1d": SlotState.upcoming}
    assert states(local(2023, 2, 8, 23, 59)) == {"7d": SlotState.due, "1d": SlotState.upcoming}
    assert states(local(2023, 2, 9, 0, 30))["7d"] is SlotState.due  # within the hour's grace
    assert states(local(2023, 2, 9, 1, 0))["7d"] is SlotState.missed  # past the grace
    assert states(local(2023, 2, 14, 23, 59)) == {"7d": SlotState.missed, "1d": SlotState.due}
    # after the deadline nothing is due, whatever the grace
    slots = reminder_slots(DEADLINE, [D1])
    late = slot_states(slots, deadline=DEADLINE, now=local(2023, 2, 16, 0, 0),
                       grace=timedelta(days=3))
    assert [st for _, st in late] == [SlotState.missed]


def test_with_a_long_grace_only_the_latest_due_slot_goes_out() -> None:
    slots = reminder_slots(DEADLINE, [D7, D1])
    got = slot_states(slots, deadline=DEADLINE, now=local(2023, 2, 15, 8),
                      grace=timedelta(days=10))
    assert [st for _, st in got] == [SlotState.superseded, SlotState.due]


def test_slots_before_or_just_after_the_invitation_are_skipped() -> None:
    got = states(local(2023, 2, 14, 23, 59), invited_at=local(2023, 2, 12, 10))
    assert got == {"7d": SlotState.skipped, "1d": SlotState.due}
    got = states(local(2023, 2, 14, 23, 59), invited_at=local(2023, 2, 14, 10))
    assert got["1d"] is SlotState.skipped  # a reminder 14 hours after the invitation is noise


def test_spring_forward_keeps_the_local_time() -> None:
    # DST starts in Stockholm on the last Sunday of March: 2023-03-26 02:00 -> 03:00.
    deadline = local(2023, 3, 30, 23, 59)  # CEST, +02:00
    s7, s1 = reminder_slots(deadline, [D7, D1])
    assert s7.at.astimezone(STHLM).replace(tzinfo=None) == datetime(2023, 3, 23, 23, 59)
    assert s7.at.astimezone(STHLM).utcoffset() == timedelta(hours=1)
    assert deadline - s7.at == timedelta(days=7) - timedelta(hours=1)
    # an hour offset is elapsed time, not wall clock
    noon = local(2023, 3, 26, 12, 0)
    (s12,) = reminder_slots(noon, [H12])
    assert noon - s12.at == timedelta(hours=12)
    assert s12.at.astimezone(STHLM).hour == 23  # the previous evening, in winter time
    # a wall time that does not exist (02:30 on the change night) lands after the gap
    (gap,) = reminder_slots(local(2023, 3, 27, 2, 30), [D1])
    assert gap.at == datetime(2023, 3, 26, 1, 30, tzinfo=UTC)
    assert gap.at.astimezone(STHLM).replace(tzinfo=None) == datetime(2023, 3, 26, 3, 30)


def test_fall_back_keeps_the_local_time() -> None:
    # DST ends on the last Sunday of October: 2023-10-29 03:00 -> 02:00.
    deadline = local(2023, 11, 1, 23, 59)  # CET
    s7, _ = reminder_slots(deadline, [D7, D1])
    assert s7.at.astimezone(STHLM).replace(tzinfo=None) == datetime(2023, 10, 25, 23, 59)
    assert deadline - s7.at == timedelta(days=7, hours=1)
    (amb,) = reminder_slots(local(2023, 10, 30, 2, 30), [D1])  # 02:30 happens twice on the 29th
    assert amb.at == datetime(2023, 10, 29, 0, 30, tzinfo=UTC)  # the first (summer-time) one


def test_the_due_window_across_dst() -> None:
    deadline = local(2023, 3, 30, 23, 59)
    slots = reminder_slots(deadline, [D7])
    just_before = datetime(2023, 3, 23, 22, 58, tzinfo=UTC)
    assert slot_states(slots, deadline=deadline, now=just_before, grace=GRACE)[0][1] \
        is SlotState.upcoming
    assert slot_states(slots, deadline=deadline, now=just_before + timedelta(minutes=1),
                       grace=GRACE)[0][1] is SlotState.due


def test_current_slot_for_a_coordinator() -> None:
    slots = reminder_slots(DEADLINE, [D7, D1])
    assert current_slot(slots, deadline=DEADLINE, now=local(2023, 2, 1)).key == "7d"  # type: ignore[union-attr]
    assert current_slot(slots, deadline=DEADLINE, now=local(2023, 2, 10)).key == "7d"  # type: ignore[union-attr]
    assert current_slot(slots, deadline=DEADLINE, now=local(2023, 2, 15, 8)).key == "1d"  # type: ignore[union-attr]
    assert current_slot(slots, deadline=DEADLINE, now=DEADLINE) is None


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        states(datetime(2023, 2, 1))


def test_classify_gives_one_reason_per_person() -> None:
    people = [
        InviteeState(1, "anna@hylte.se", organisation_id=10, organisation="Hylte kommun"),
        InviteeState(2, "bo@hylte.se", organisation_id=10,
                     registration=RegistrationStatus.registered),
        InviteeState(3, "cia@hylte.se", organisation_id=10,
                     registration=RegistrationStatus.registered),
        InviteeState(4, "dan@uppsala.se", organisation_id=20, subscribed=False),
        InviteeState(5, "eva@uppsala.se", organisation_id=20, reminded=True),
        InviteeState(6, "fia@uppsala.se", organisation_id=20),
        InviteeState(7, "gun@uppsala.se", organisation_id=20,
                     registration=RegistrationStatus.cancelled),
        InviteeState(8, "hans@example.org"),
    ]
    got = classify(people, seats_max=2, taken_by_org={10: 2, 20: 1})
    assert [d.reason for d in got] == [
        Reason.seats_full, Reason.registered, Reason.registered, Reason.unsubscribed,
        Reason.already_reminded, Reason.remind, Reason.cancelled, Reason.remind]
    assert got[0].line() == ("anna@hylte.se (Hylte kommun)\tseats full for their "
                             "organisation: 2 of 2 taken")


def test_seat_rule() -> None:
    assert check_seat(1, 2, waitlist=False).outcome is SeatOutcome.registered
    assert check_seat(2, 2, waitlist=False).outcome is SeatOutcome.full
    assert check_seat(2, 2, waitlist=True).outcome is SeatOutcome.waitlisted
