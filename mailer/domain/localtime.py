"""Times people type ("2023-06-15 08:00") read in the configured zone, DST edges refused."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


class LocalTimeError(ValueError):
    """The text is not a time, or names a local time that does not exist or exists twice."""


def parse_local(value: str, tz: tzinfo) -> datetime:
    """An aware UTC datetime from ``value``; a value without offset is local time in ``tz``.

    Accepts "2023-06-15 08:00", "2023-06-15T08:00:00" and ISO forms with an offset
    ("2023-10-29T02:30+01:00"). A local time skipped by the spring DST change (02:30 on
    the last Sunday of March in Stockholm) or repeated by the autumn change is refused
    with the fix, instead of being silently moved by an hour.
    """
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise LocalTimeError(f"{value!r} is not a date and time; write e.g. "
                             "'2023-06-15 08:00' (local) or 2023-06-15T08:00+02:00") from None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    first, second = parsed.replace(tzinfo=tz, fold=0), parsed.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        shown = parsed.strftime("%Y-%m-%d %H:%M")
        # Round-tripping through UTC lands elsewhere only for a time that never occurs.
        if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != parsed:
            raise LocalTimeError(f"{shown} does not exist in {tz} (the clocks skip that hour "
                                 "for daylight saving time); choose another time")
        raise LocalTimeError(f"{shown} occurs twice in {tz} (the clocks go back that night); "
                             f"add the offset, e.g. {parsed:%Y-%m-%dT%H:%M}+02:00 for the "
                             f"first or +01:00 for the second")
    return first.astimezone(UTC)
