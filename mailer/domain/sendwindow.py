"""Send windows: when public-sector mail may land ("Mon-Fri 08:00-17:00", no holidays).

Pure: a window is parsed once from its text and answers ``next_open(t)``, the first
moment at or after ``t`` inside the window, in the organisation's time zone. Swedish
public holidays come from the ``holidays`` package, together with the de facto days off
(Midsommarafton, Julafton, Nyårsafton) when nobody reads work mail either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from mailer.domain.findings import msg

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SV_DAYS = {"mån": 0, "tis": 1, "ons": 2, "tor": 3, "fre": 4, "lör": 5, "sön": 6}
_RE = re.compile(r"^\s*(?P<d1>[a-zåäö]{3})[a-zåäö]*\s*(?:-\s*(?P<d2>[a-zåäö]{3})[a-zåäö]*)?\s+"
                 r"(?P<h1>\d{1,2})(?::(?P<m1>\d{2}))?\s*-\s*(?P<h2>\d{1,2})(?::(?P<m2>\d{2}))?"
                 r"\s*$", re.IGNORECASE)


class WindowError(ValueError):
    """A send window that cannot be read; the message says how to write one."""


def _day(name: str, text: str) -> int:
    key = name.lower()
    if key in DAYS:
        return DAYS.index(key)
    if key in _SV_DAYS:
        return _SV_DAYS[key]
    raise WindowError(msg("send window %(window)r: %(day)r is not a day; write e.g. "
                          "'Mon-Fri 08:00-17:00' (or 'mån-fre 08:00-17:00')",
                          window=text, day=name))


@lru_cache(maxsize=64)
def _holidays(country: str, year: int) -> frozenset[date]:
    if not country:
        return frozenset()
    cal = holidays.country_holidays(country, years=year, categories=_categories(country))
    return frozenset(cal.keys())


def _categories(country: str) -> tuple[str, ...]:
    supported = holidays.country_holidays(country).supported_categories
    return tuple(c for c in ("public", "de_facto") if c in supported)


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Days of the week (0 = Monday) and a daily interval [start, end) in ``zone``."""

    days: frozenset[int]
    start: time
    end: time
    zone: ZoneInfo
    country: str = "SE"  # holidays of this country are closed ("" for none)
    text: str = ""

    @classmethod
    def parse(cls, text: str, zone: str | ZoneInfo = "Europe/Stockholm",
              country: str = "SE") -> SendWindow:
        m = _RE.match(text or "")
        if m is None:
            raise WindowError(msg("send window %(window)r: write days and hours such as "
                                  "'Mon-Fri 08:00-17:00'", window=text))
        d1 = _day(m["d1"], text)
        d2 = _day(m["d2"], text) if m["d2"] else d1
        days = frozenset((d1 + i) % 7 for i in range((d2 - d1) % 7 + 1))
        try:
            start = time(int(m["h1"]), int(m["m1"] or 0))
            end = time(int(m["h2"]), int(m["m2"] or 0)) if m["h2"] != "24" else time.max
        except ValueError:
            raise WindowError(msg("send window %(window)r: hours run from 00:00 to 24:00",
                                  window=text)) from None
        if end <= start:
            raise WindowError(msg("send window %(window)r: the window must end after it "
                                  "starts on the same day", window=text))
        if country:
            try:
                _categories(country)
            except NotImplementedError:
                raise WindowError(msg("send window: no holiday calendar for country "
                                      "%(country)r; use a code such as SE",
                                      country=country)) from None
        tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
        return cls(days=days, start=start, end=end, zone=tz, country=country, text=text)

    def is_open_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in _holidays(self.country, day.year)

    def contains(self, t: datetime) -> bool:
        local = t.astimezone(self.zone)
        return self.is_open_day(local.date()) and self.start <= local.time() < self.end

    def next_open(self, t: datetime) -> datetime:
        """``t`` if the window is open then, else the next opening (aware, in UTC)."""
        if t.tzinfo is None:
            raise ValueError("next_open needs an aware datetime")
        if self.contains(t):
            return t
        local = t.astimezone(self.zone)
        day = local.date()
        if self.is_open_day(day) and local.time() < self.start:
            return self._at(day, self.start)
        for _ in range(400):  # a year and a bit: every window opens within it
            day += timedelta(days=1)
            if self.is_open_day(day):
                return self._at(day, self.start)
        raise WindowError(msg("send window %(window)r never opens", window=self.text))

    def _at(self, day: date, at: time) -> datetime:
        # A start inside a DST gap (02:30 on the spring change) moves to the same wall
        # time after the jump, as zoneinfo does with fold=0; compare in UTC.
        return datetime.combine(day, at, tzinfo=self.zone).astimezone(ZoneInfo("UTC"))

    def due(self, t: datetime, *, not_after: datetime | None = None) -> datetime:
        """When a copy due at ``t`` may go: ``next_open(t)``, unless the window opens only
        after ``not_after``: then at ``t`` itself (a reminder before a registration
        deadline is better read on a Sunday than after the deadline)."""
        nxt = self.next_open(t)
        if not_after is not None and nxt >= not_after:
            return t
        return nxt
