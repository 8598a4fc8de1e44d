"""Languages of the web pages: choosing one per request, and the sv/en message catalogue.

Message ids are English; ``locale/sv.po`` holds the Swedish text. The catalogue is read
with Babel and compiled in memory at start (no compiled .mo files in git, nothing
generated at run time beyond that). A message missing in Swedish falls back to English,
and a test checks that every id used in the templates and code has a Swedish text.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Iterable
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("sv", "en")
DEFAULT = "sv"
LOCALE_DIR = Path(__file__).parent / "locale"

Translate = Callable[..., str]


def N_(message: str) -> str:
    """Mark a message id for translation later (extracted like ``_``)."""
    return message


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue for ``lang`` (English is the message ids themselves)."""
    po = LOCALE_DIR / f"{lang}.po"
    if lang == "en" or not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def translator(lang: str) -> Translate:
    """``_("Hello %(name)s", name=x)``: translate, then fill named values."""
    tr = translations(lang if lang in LANGUAGES else DEFAULT)

    def _(message: str, **values: object) -> str:
        text = tr.gettext(message)
        return text % values if values else text

    return _


def parse_accept_language(header: str | None) -> list[str]:
    """Primary language tags from Accept-Language, best first (RFC 9110 section 12.5.4)."""
    if not header:
        return []
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            key, _, val = p.strip().partition("=")
            if key == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        if tag and q > 0:
            ranked.append((-q, i, tag.strip().lower().split("-")[0]))
    return [t for _, _, t in sorted(ranked)]


def choose_language(explicit: str | None, subscriber: str | None, accept: str | None,
                    default: str = DEFAULT) -> str:
    """``?lang=`` wins, then the subscriber's own language, then the browser's, then ours."""
    for candidate in (explicit, subscriber):
        if candidate in LANGUAGES:
            return candidate  # type: ignore[return-value]
    for tag in parse_accept_language(accept):
        if tag in LANGUAGES:
            return tag
        if tag in ("nb", "nn", "no", "da"):  # Scandinavian readers: Swedish, not English
            return "sv"
    return default if default in LANGUAGES else DEFAULT


def message_ids(sources: Iterable[Path]) -> set[str]:
    """Every message id used in the given templates and Python files (for the tests)."""
    from babel.messages.extract import extract

    ids: set[str] = set()
    for path in sources:
        method = "python" if path.suffix == ".py" else "jinja2.ext:babel_extract"
        with path.open("rb") as fh:
            for _lineno, message, _comments, _context in extract(
                method, fh, keywords={"_": None, "N_": None},
                options={"extensions": "jinja2.ext.i18n"} if method != "python" else {},
            ):
                if isinstance(message, str) and message:
                    ids.add(message)
    return ids
