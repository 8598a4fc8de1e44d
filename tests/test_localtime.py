"""Typed local times: read in the configured zone; DST gaps and repeats refused clearly."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mailer.domain.localtime import LocalTimeError, parse_local

STHLM = ZoneInfo("Europe/Stockholm")


def test_summer_and_winter_times() -> None:
    assert parse_local("2023-06-15 08:00", STHLM) == datetime(2023, 6, 15, 6, 0, tzinfo=UTC)
    assert parse_local("2023-02-08T09:00", STHLM) == datetime(2023, 2, 8, 8, 0, tzinfo=UTC)
    assert parse_local("2030-10-27T02:30+01:00", STHLM) == datetime(2030, 10, 27, 1, 30,
                                                                     tzinfo=UTC)


def test_a_time_skipped_in_spring_is_refused() -> None:
    with pytest.raises(LocalTimeError, match="does not exist"):
        parse_local("2030-03-31 02:30", STHLM)


def test_a_time_repeated_in_autumn_asks_for_the_offset() -> None:
    with pytest.raises(LocalTimeError, match=r"occurs twice.*\+02:00"):
        parse_local("2030-10-27 02:30", STHLM)


def test_not_a_time() -> None:
    with pytest.raises(LocalTimeError, match="not a date and time"):
        parse_local("tomorrow", STHLM)
