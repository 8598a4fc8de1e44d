"""Languages of the web pages: choosing one per request, and translating with the catalogue.

Message ids are English; the Swedish texts are in ``mailer/locale/sv/web.po``, read by the
shared catalogue of ``mailer.render.i18n`` (one convention for mail and pages: every
``.po`` file of a language is merged). A test checks that every id used in the web
templates and code has a Swedish text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from mailer.render.i18n import N_ as N_  # the web's modules mark their ids with it
from mailer.render.i18n import Translator

LANGUAGES = ("sv", "en")
DEFAULT = "sv"

Translate = Callable[..., str]


def translations(lang: str) -> Translator:
    return Translator(lang if lang in LANGUAGES else DEFAULT)


def translator(lang: str) -> Translate:
    """``_("Hello %(name)s", name=x)``: translate, then fill named values."""
    tr = translations(lang)

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
        if candidate is not None and candidate in LANGUAGES:
            return candidate
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
                method, fh, keywords={"_": None, "N_": None, "_n": (1, 2)},
                options={"extensions": "jinja2.ext.i18n"} if method != "python" else {},
            ):
                if isinstance(message, tuple) and message and message[0]:
                    ids.add(message[0])  # a plural entry, found by its singular
                elif isinstance(message, str) and message:
                    ids.add(message)
    return ids
