"""Send windows: weekdays, office hours, Swedish holidays, DST, deadlines."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mailer.domain.sendwindow import SendWindow, WindowError

STHLM = ZoneInfo("Europe/Stockholm")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=STHLM)  # type: ignore[misc]


W = SendWindow.parse("Mon-Fri 08:00-17:00")


def test_inside_the_window_goes_at_once():
    t = local(2026, 11, 24, 10, 30)  # a Tuesday
    assert W.next_open(t) == t


def test_saturday_night_waits_for_monday_morning():
    assert W.next_open(local(2026, 11, 28, 2, 0)) == local(2026, 11, 30, 8, 0)


def test_after_hours_waits_for_the_next_morning():
    assert W.next_open(local(2026, 11, 24, 17, 0)) == local(2026, 11, 25, 8, 0)
    assert W.next_open(local(2026, 11, 24, 6, 59)) == local(2026, 11, 24, 8, 0)


def test_swedish_holidays_and_de_facto_days_are_closed():
    # Julafton (Thu), juldagen (Fri), then a weekend and annandag jul is Saturday.
    assert W.next_open(local(2026, 12, 23, 18, 0)) == local(2026, 12, 28, 8, 0)
    # Midsommarafton 2026 is Friday 19 June.
    assert W.next_open(local(2026, 6, 19, 9, 0)) == local(2026, 6, 22, 8, 0)
    # Kristi himmelsfärdsdag, Thursday 14 May 2026.
    assert W.next_open(local(2026, 5, 14, 9, 0)) == local(2026, 5, 15, 8, 0)


def test_local_hours_hold_across_dst():
    # Summer time starts Sunday 29 March 2026; Monday 08:00 is 06:00 UTC.
    t = W.next_open(local(2026, 3, 28, 12, 0))
    assert t == local(2026, 3, 30, 8, 0)
    assert t.utcoffset() is not None and t.astimezone(ZoneInfo("UTC")).hour == 6


def test_swedish_day_names_and_single_days():
    w = SendWindow.parse("mån-fre 9-16")
    assert w.days == frozenset(range(5)) and w.start.hour == 9 and w.end.hour == 16
    assert SendWindow.parse("Wed 10:00-11:00").days == frozenset({2})
    assert SendWindow.parse("Fri-Mon 08:00-17:00").days == frozenset({4, 5, 6, 0})


def test_a_reminder_never_moves_past_its_deadline():
    deadline = local(2026, 11, 29, 23, 59)  # Sunday night
    due = local(2026, 11, 28, 9, 0)  # Saturday: the window opens only after the deadline
    assert W.due(due, not_after=deadline) == due
    # With time to spare it waits for the window as usual.
    assert W.due(due, not_after=local(2026, 12, 2, 12, 0)) == local(2026, 11, 30, 8, 0)


def test_without_a_holiday_calendar():
    w = SendWindow.parse("Mon-Fri 08:00-17:00", country="")
    assert w.next_open(local(2026, 12, 24, 9, 0)) == local(2026, 12, 24, 9, 0)


@pytest.mark.parametrize("text", ["", "weekdays", "Mon-Fri", "Mon-Fri 17:00-08:00",
                                  "Xyz-Fri 08:00-17:00", "Mon-Fri 25:00-26:00"])
def test_unreadable_windows_say_how_to_write_one(text: str):
    with pytest.raises(WindowError, match="send window"):
        SendWindow.parse(text)
