"""The .ics attachment parses with icalendar and keeps local times across a DST change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar

from mailer.domain.invitation import parse_invitation
from mailer.render.ics import meetings_ics
from tests.invite_helpers import SLUG, invitation_data, officials

STHLM = ZoneInfo("Europe/Stockholm")
NOW = datetime(2023, 2, 1, 10, tzinfo=UTC)


def _events(data: bytes) -> list:  # type: ignore[type-arg]
    cal = Calendar.from_ical(data)
    assert cal["method"] == "PUBLISH"
    return list(cal.walk("VEVENT"))


def test_the_2023_meetings() -> None:
    data = meetings_ics(officials(), SLUG, domain="example.org", now=NOW)
    assert b"\r\n" in data and b"BEGIN:VTIMEZONE" in data and b"TZID:Europe/Stockholm" in data
    first, webcast, autumn = _events(data)
    assert str(first["uid"]) == f"{SLUG}-1@example.org"
    start = first.decoded("dtstart")
    assert start == datetime(2023, 3, 10, 10, 0, tzinfo=STHLM)
    assert first.decoded("dtend") - start == timedelta(hours=5)
    assert first["dtstart"].params["TZID"] == "Europe/Stockholm"
    assert str(first["location"]) == "Digitalt via Zoom"
    assert webcast.decoded("dtstart").astimezone(UTC) == datetime(2023, 2, 10, 8, tzinfo=UTC)
    assert autumn.decoded("dtstart") == date(2023, 10, 11)  # no time given: all day
    assert str(autumn["status"]) == "TENTATIVE" and str(autumn["location"]) == "Stockholm"
    # the same invitation gives the same UIDs again (a re-send updates, not duplicates)
    again = _events(meetings_ics(officials(), SLUG, domain="example.org", now=NOW))
    assert [str(e["uid"]) for e in again] == [str(e["uid"]) for e in (first, webcast, autumn)]


def test_local_times_across_the_spring_and_autumn_changes() -> None:
    data = invitation_data()
    data["registration"]["deadline"] = "2023-03-01"
    data["meetings"] = [
        {"title": "Före sommartid", "date": "2023-03-24", "start": "10:00", "end": "15:00",
         "place": "Stockholm"},
        {"title": "Efter sommartid", "date": "2023-03-31", "start": "10:00", "end": "15:00",
         "place": "Stockholm"},
        {"title": "Efter vintertid", "date": "2023-10-30", "start": "10:00", "end": "15:00",
         "online": True, "platform": "Zoom", "url": "https://zoom.us/j/123 456"},
    ]
    inv = parse_invitation(data)
    events = _events(meetings_ics(inv, SLUG, domain="example.org", now=NOW))
    starts = [e.decoded("dtstart") for e in events]
    assert [s.astimezone(STHLM).strftime("%H:%M") for s in starts] == ["10:00"] * 3
    assert [s.astimezone(UTC).hour for s in starts] == [9, 8, 9]
    assert str(events[2]["url"]) == "https://zoom.us/j/123%20456"
    # a calendar program that only reads the VTIMEZONE gets the offsets right too
    cal = Calendar.from_ical(meetings_ics(inv, SLUG, domain="example.org", now=NOW))
    (vtz,) = cal.walk("VTIMEZONE")
    offsets = {str(c.name): c.decoded("tzoffsetto") for c in vtz.subcomponents}
    assert offsets == {"STANDARD": timedelta(hours=1), "DAYLIGHT": timedelta(hours=2)}
