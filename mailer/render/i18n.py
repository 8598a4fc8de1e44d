"""Translations and formats: the sv/en message catalogue and Babel dates, times, money.

Catalogues are gettext ``.po`` files under ``mailer/locale/<lang>/`` (every file there is
merged, so each area keeps its own: ``newsletter.po``, ``invitation.po``, …). Message ids
are the English text; ``en`` files may leave ``msgstr`` empty. They are read with Babel
at first use — no compile step, so a non-editable install needs only the ``.po`` files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel.dates import format_date, format_time
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from mailer.domain.findings import joined
from mailer.errors import Problem

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = ("sv", "en")

# Språkrådet: Swedish writes times with a full stop (10.00–12.00); CLDR now says 10:00.
_TIME_PATTERN = {"sv": "HH.mm", "en": "HH:mm"}
_DATE_PATTERN = {"sv": "d MMMM y", "en": "d MMMM y"}
_DAY_MONTH_PATTERN = {"sv": "d MMMM", "en": "d MMMM"}


def N_(message: str) -> str:
    """Mark a message id for translation later (extracted like ``_``)."""
    return message


@lru_cache(maxsize=8)
def _read(language: str) -> tuple[dict[str, str], dict[str, tuple[str, ...]], Callable[[int], int]]:
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; use one of {LANGUAGES}")
    messages: dict[str, str] = {}
    plurals: dict[str, tuple[str, ...]] = {}
    plural_form: Callable[[int], int] = lambda n: 0 if n == 1 else 1  # noqa: E731
    for po in sorted((LOCALE_DIR / language).glob("*.po")):
        with po.open("rb") as fh:
            cat = read_po(fh, locale=language)
        if cat.plural_expr:
            plural_form = _plural_function(cat.plural_expr)
        for msg in cat:
            if msg.id and isinstance(msg.id, str) and isinstance(msg.string, str):
                messages[msg.id] = msg.string or msg.id
            elif isinstance(msg.id, tuple | list) and msg.id and msg.id[0]:
                forms = tuple(msg.string) if isinstance(msg.string, tuple | list) else ()
                plurals[str(msg.id[0])] = tuple(f or msg.id[min(i, 1)]
                                                for i, f in enumerate(forms)) or tuple(msg.id)
    return messages, plurals, plural_form


def _plural_function(expr: str) -> Callable[[int], int]:
    """The catalogue's ``Plural-Forms`` expression as a function (gettext's own parser)."""
    from gettext import c2py

    return c2py(expr)


def catalogue(language: str) -> Mapping[str, str]:
    """Every message of ``language`` (msgid → translation), merged from its .po files."""
    return _read(language)[0]


class Translator:
    """gettext for one language; a missing message falls back to the English msgid."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._messages, self._plurals, self._form = _read(language)

    def gettext(self, message: str) -> str:
        return self._messages.get(message) or message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The form for ``n`` by the catalogue's ``Plural-Forms`` (``msgid_plural`` entries)."""
        forms = self._plurals.get(singular)
        if forms:
            return forms[min(self._form(n), len(forms) - 1)]
        return singular if n == 1 else plural

    def has_plural(self, singular: str) -> bool:
        return singular in self._plurals

    def __contains__(self, message: str) -> bool:
        return message in self._messages or message in self._plurals

    def localise(self, message: str) -> str:
        """A check message (``mailer.domain.findings.Msg``) in this language; other
        strings as they are."""
        msgid = getattr(message, "msgid", None)
        if msgid is None:
            return message
        params = {k: (self.localise(v) if isinstance(v, str) else joined(v, self.localise))
                  for k, v in getattr(message, "params", {}).items()}
        plural = getattr(message, "plural", None)
        text = (self.ngettext(msgid, plural, getattr(message, "n", 1)) if plural is not None
                else self.gettext(msgid))
        return text % params if params else text


def describe_problem(problem: Problem, language: str, *, place: bool = True) -> str:
    """A check problem in ``language``, naming its place by the section and item titles:
    ``Avsnittet ”Evenemang”, punkten ”Demokratidagen”, datum: evenemanget … har redan
    varit; …`` (no file name or line: the admin links to the field instead)."""
    tr = Translator(language if language in LANGUAGES else "sv")
    parts = []
    if place and problem.section is not None:
        parts.append(tr.gettext('section "%(title)s"') % {"title": tr.localise(problem.section)})
    if place and problem.item is not None:
        parts.append(tr.gettext('item "%(title)s"') % {"title": tr.localise(problem.item)})
    if (name := problem.short_field) is not None:
        label = name.rsplit(".", 1)[-1].split("[")[0].replace("_", " ").capitalize()
        text = tr.gettext(label)
        parts.append(text[:1].lower() + text[1:] if text[1:2].islower() else text)
    # the admin's own words where the command line's advice would not fit (Msg.admin)
    message = tr.localise(getattr(problem.message, "admin", None) or problem.message)
    line = f"{', '.join(parts)}: {message}" if parts else message
    return line[:1].upper() + line[1:]


def greeting(first_name: str, language: str) -> str:
    """"Hej Anna!" / "Hello Anna," — and "Hej!" / "Hello," for someone without a name."""
    messages = catalogue(language if language in LANGUAGES else "sv")
    if first_name:
        pattern = messages.get("Hello %(name)s,") or "Hello %(name)s,"
        return pattern % {"name": first_name}
    return messages.get("Hello,") or "Hello,"


def newsletter_heading(number: int, year: int, language: str) -> str:
    """``Nyhetsbrev nr 6 år 2023`` / ``Newsletter no. 6, 2023`` (an issue's heading, and
    the subject ``mailer issue new`` proposes)."""
    return Translator(language).gettext("Newsletter no. %(number)s, %(year)s") % {
        "number": number, "year": year}


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


def format_fixed(value: float, places: int, language: str) -> str:
    """``12,5`` / ``12.5``: a rate or a size with ``places`` decimals and the language's
    decimal sign (no grouping)."""
    return format_decimal(value, format="0." + "0" * places if places else "0",
                          locale=language)


def format_kronor(amount: int | Decimal, language: str) -> str:
    """``1 500 kr`` / ``SEK 1,500``: kronor, the number by Babel (``99,50 kr`` where there
    are öre, whole kronor as organisers write them otherwise), the unit and its place by
    the catalogue (Babel's own currency format writes ``SEK1,500`` in English)."""
    whole = Decimal(amount) == Decimal(amount).to_integral_value()
    number = format_decimal(amount, format=None if whole else "#,##0.00", locale=language)
    return Translator(language).gettext("SEK %(amount)s") % {"amount": number}
