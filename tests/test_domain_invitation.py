"""Invitation content: parsing, shorthands, validation errors and warnings (pure, no I/O)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from mailer.domain.invitation import (
    Cost,
    CostPer,
    Invitation,
    MeetingKind,
    ReminderOffset,
    Seats,
    clean_url,
    parse_invitation,
    refuse_if_closed,
    seats_text,
)
from mailer.errors import MailerError
from mailer.render.i18n import Translator

ROOT = Path(__file__).resolve().parent.parent
OFFICIALS = ROOT / "issues" / "2023-natverk-tjanstepersoner" / "issue.yaml"
ELECTED = ROOT / "issues" / "2019-natverk-fortroendevalda" / "issue.yaml"


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def officials() -> dict[str, Any]:
    return load(OFFICIALS)


def test_the_2023_network_as_in_the_seed(officials: dict[str, Any]) -> None:
    inv = parse_invitation(officials)
    assert inv.deadline == datetime(2023, 2, 15, 23, 59, tzinfo=inv.tz)
    assert inv.deadline_utc == datetime(2023, 2, 15, 22, 59, tzinfo=UTC)
    first = inv.first_meeting
    assert first is not None and first.date.isoformat() == "2023-03-10"
    assert (first.start.isoformat(), first.end.isoformat()) == ("10:00:00", "15:00:00")  # type: ignore[union-attr]
    assert first.is_online and first.platform == "Zoom"
    webcast = next(m for m in inv.meetings if m.kind is MeetingKind.webcast)
    assert webcast.date.isoformat() == "2023-02-10"  # before the deadline, which is fine
    assert inv.cost.amount == 900 and inv.cost.per is CostPer.person
    assert (inv.seats.min, inv.seats.max, inv.seats.transferable) == (1, 2, True)
    assert "EDIT=of%20f&" in (inv.registration.url or "")
    assert [c.phone for c in inv.contacts] == ["070-311 1708", "072-746 8839", "073-679 3207"]
    assert [o.key for o in inv.reminder_offsets] == ["7d", "1d"]
    assert inv.period is not None and inv.period.reconfirmation_years() == [2024, 2025, 2026]
    assert inv.errors() == []
    assert Translator("sv").localise(seats_text(inv.seats)) == "1–2 personer per organisation"


def test_the_2019_network() -> None:
    inv = parse_invitation(load(ELECTED))
    assert inv.deadline.date().isoformat() == "2019-04-15"
    assert inv.cost.amount == 1500 and inv.seats.max == 2
    assert inv.errors() == []


def test_naive_deadline_uses_the_configured_zone(officials: dict[str, Any]) -> None:
    officials["registration"]["deadline"] = "2023-02-15 16:00"
    inv = parse_invitation(officials, timezone="Europe/London")
    assert inv.timezone == "Europe/London"
    assert inv.deadline_utc == datetime(2023, 2, 15, 16, 0, tzinfo=UTC)
    inv = parse_invitation(officials)
    assert inv.deadline_utc == datetime(2023, 2, 15, 15, 0, tzinfo=UTC)
    officials["registration"]["deadline"] = "2023-02-15T16:00:00+00:00"
    assert parse_invitation(officials).deadline_utc == datetime(2023, 2, 15, 16, tzinfo=UTC)


def _errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as info:
        parse_invitation(data)
    return [(e["loc"], e["msg"]) for e in info.value.errors()]


def test_seats_below_one_is_an_error(officials: dict[str, Any]) -> None:
    officials["seats"]["per_organisation"] = 0
    (loc, msg), = _errors(officials)
    assert loc == ("seats",) and "must be at least 1" in msg


def test_meeting_without_a_date_is_an_error(officials: dict[str, Any]) -> None:
    del officials["meetings"][0]["date"]
    (loc, msg), = _errors(officials)
    assert loc == ("meetings", 0, "date") and "required" in msg.lower()


def test_meeting_end_before_start_and_no_place(officials: dict[str, Any]) -> None:
    officials["meetings"][0]["end"] = "09:00"
    officials["meetings"][2]["place"] = ""
    errs = _errors(officials)
    assert [e[0][:2] for e in errs] == [("meetings", 0), ("meetings", 2)]
    assert "not after start" in errs[0][1] and "place" in errs[1][1]


def test_deadline_after_first_meeting_is_an_error(officials: dict[str, Any]) -> None:
    officials["registration"]["deadline"] = "2023-03-11"
    (finding,) = parse_invitation(officials).errors()
    assert finding.path == ("registration", "deadline")
    assert "not before the first meeting on 2023-03-10" in finding.message


def test_link_mode_needs_a_url_and_bad_urls_are_refused(officials: dict[str, Any]) -> None:
    data = copy.deepcopy(officials)
    del data["registration"]["url"]
    assert "needs url" in _errors(data)[0][1]
    officials["registration"]["url"] = "www.example.org/anmalan"
    assert "relative link" in _errors(officials)[0][1]


def test_past_deadline_is_a_warning_at_check_and_a_refusal_when_sending(
        officials: dict[str, Any]) -> None:
    inv = parse_invitation(officials)
    before = datetime(2023, 1, 20, 9, tzinfo=UTC)
    after = datetime(2023, 2, 16, 9, tzinfo=UTC)
    assert inv.findings(before) == []
    (warning,) = inv.findings(after)
    assert warning.severity == "warning" and "has passed" in warning.message
    refuse_if_closed(inv, before, "send reminders")
    with pytest.raises(MailerError, match="cannot send reminders: the registration deadline "
                                          "2023-02-15 23:59"):
        refuse_if_closed(inv, after, "send reminders")


def test_unknown_field_is_refused(officials: dict[str, Any]) -> None:
    officials["seats"]["transferrable"] = True
    (loc, msg), = _errors(officials)
    assert loc == ("seats", "transferrable") and "Extra inputs" in msg


@pytest.mark.parametrize(("text", "key"), [("7d", "7d"), ("1 day", "1d"), ("12h", "12h"),
                                           ("3 dagar", "3d"), (2, "2d"), ("90m", "90m"),
                                           ("48h", "2d")])
def test_reminder_offsets(text: object, key: str) -> None:
    assert ReminderOffset.parse(text).key == key


def test_bad_offset(officials: dict[str, Any]) -> None:
    officials["reminders"] = ["a week"]
    (loc, msg), = _errors(officials)
    assert loc == ("reminders",) and "7d, 1d or 12h" in msg


def test_shorthands() -> None:
    assert Cost.model_validate("kostnadsfritt").free
    assert Cost.model_validate(8000).amount == 8000
    assert Seats.model_validate(2).max == 2
    assert Seats.model_validate({"per_organisation": "1–2"}).min == 1
    with pytest.raises(ValidationError, match="contradict"):
        Cost.model_validate({"free": True, "amount": 10})


def test_clean_url_keeps_escapes_and_encodes_spaces() -> None:
    assert clean_url("https://x.se/a b?q=1%202&r=ö") == "https://x.se/a%20b?q=1%202&r=%C3%B6"


def test_defaults() -> None:
    inv = Invitation.model_validate({
        "title": "Masterclass", "organiser": {"name": "SKL"}, "letter": "Välkomna",
        "cost": {"amount": 8000, "per": "organisation", "first_year_free": True},
        "seats": 1, "registration": {"mode": "email", "email": "lena.langlet@skl.se",
                                     "deadline": "2015-11-15"},
    })
    assert [o.key for o in inv.reminder_offsets] == ["7d", "1d"]
    assert Translator("sv").localise(inv.mail_subject) == "Inbjudan: Masterclass"
    assert inv.first_meeting is None and inv.errors() == []
