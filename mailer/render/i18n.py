"""Translations and formats: the sv/en message catalogue and Babel dates, times, money.

Catalogues are gettext ``.po`` files under ``mailer/locale/<lang>/`` (every file there is
merged, so each area keeps its own: ``newsletter.po``, ``invitation.po``, …). Message ids
are the English text; ``en`` files may leave ``msgstr`` empty. They are read with Babel
at first use — no compile step, so a non-editable install needs only the ``.po`` files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date, format_time
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = ("sv", "en")

# Språkrådet: Swedish writes times with a full stop (10.00–12.00); CLDR now says 10:00.
_TIME_PATTERN = {"sv": "HH.mm", "en": "HH:mm"}
_DATE_PATTERN = {"sv": "d MMMM y", "en": "d MMMM y"}
_DAY_MONTH_PATTERN = {"sv": "d MMMM", "en": "d MMMM"}


@lru_cache(maxsize=8)
def catalogue(language: str) -> Mapping[str, str]:
    """Every message of ``language`` (msgid → translation), merged from its .po files."""
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; use one of {LANGUAGES}")
    messages: dict[str, str] = {}
    for po in sorted((LOCALE_DIR / language).glob("*.po")):
        with po.open("rb") as fh:
            cat = read_po(fh, locale=language)
        for msg in cat:
            if msg.id and isinstance(msg.id, str) and isinstance(msg.string, str):
                messages[msg.id] = msg.string or msg.id
    return messages


class Translator:
    """gettext for one language; a missing message falls back to the English msgid."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._messages = catalogue(language)

    def gettext(self, message: str) -> str:
        return self._messages.get(message) or message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.gettext(singular if n == 1 else plural)

    def __contains__(self, message: str) -> bool:
        return message in self._messages


def greeting(first_name: str, language: str) -> str:
    """"Hej Anna!" / "Hello Anna," — and "Hej!" / "Hello," for someone without a name."""
    messages = catalogue(language if language in LANGUAGES else "sv")
    if first_name:
        pattern = messages.get("Hello %(name)s,") or "Hello %(name)s,"
        return pattern % {"name": first_name}
    return messages.get("Hello,") or "Hello,"


def format_day(day: dt.date, language: str) -> str:
    """``16 juni 2023`` / ``16 June 2023``."""
    return format_date(day, _DATE_PATTERN[language], locale=language)


def format_day_month(day: dt.date, language: str) -> str:
    """``9 juni`` / ``9 June`` (for reminders in the same year)."""
    return format_date(day, _DAY_MONTH_PATTERN[language], locale=language)


def format_clock(t: dt.time, language: str) -> str:
    """``10.00`` / ``10:00``."""
    return format_time(t, _TIME_PATTERN[language], locale=language)


def format_time_range(start: dt.time | None, end: dt.time | None, language: str) -> str:
    """``10.00–12.00`` (en dash, no spaces) / ``10:00–12:00``; one end alone is fine."""
    if start and end:
        return f"{format_clock(start, language)}–{format_clock(end, language)}"
    if start:
        return format_clock(start, language)
    return ""


def format_kronor(amount: int, language: str) -> str:
    """``1 500 kr`` / ``SEK 1,500``."""
    number = format_decimal(amount, locale=language)
    return f"{number} kr" if language == "sv" else f"SEK {number}"
