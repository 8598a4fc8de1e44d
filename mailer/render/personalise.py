"""Per-recipient fill: a once-rendered text split at placeholders, joined with values.

Rendering (MJML, Jinja2, Markdown) happens once per mailing and leaves placeholders such
as ``%%unsubscribe_url%%`` in the output. ``FillTemplate`` splits that output once and
then, per recipient, only encodes the few values and joins the pieces. The ``literal``
and ``value`` encoders let the same mechanism produce HTML (values HTML-escaped), plain
text, or quoted-printable MIME bytes (delivery builds its byte templates with it).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

T = TypeVar("T", str, bytes)

#: The per-recipient fields a template may use, as ``%%field%%``.
FIELDS = (
    "name",
    "first_name",
    "greeting",  # "Hej Anna!", or "Hej!" where we have no name (never "Hej !")
    "email",
    "organisation",
    "unsubscribe_url",
    "preferences_url",
    "browser_url",
    "register_url",
)
PLACEHOLDER_RE = re.compile(r"%%(" + "|".join(FIELDS) + r")%%")


def placeholder(field: str) -> str:
    """The marker a template writes where ``field`` goes, e.g. ``%%name%%``."""
    if field not in FIELDS:
        raise KeyError(f"unknown personalisation field {field!r}; known: {', '.join(FIELDS)}")
    return f"%%{field}%%"


class FillTemplate(Generic[T]):
    """A text split at its placeholders once; ``fill`` costs one encode per value."""

    __slots__ = ("_parts", "_slots", "_value", "_empty", "fields")

    def __init__(
        self,
        source: str,
        *,
        literal: Callable[[str], T],
        value: Callable[[str], T],
    ) -> None:
        pieces = PLACEHOLDER_RE.split(source)
        # pieces alternate: literal, field, literal, field, ..., literal
        self._parts: list[T] = []
        self._slots: list[tuple[int, str]] = []
        for i, piece in enumerate(pieces):
            if i % 2:
                self._slots.append((len(self._parts), piece))
                self._parts.append(literal(""))
            elif piece:
                self._parts.append(literal(piece))
        self._value: Callable[[str], T] = value
        self._empty: T = literal("")
        self.fields = frozenset(f for _, f in self._slots)

    def fill(self, values: Mapping[str, str]) -> T:
        parts = self._parts.copy()
        enc = self._value
        for index, field in self._slots:
            parts[index] = enc(values.get(field, ""))
        return self._empty.join(parts)


def _identity(s: str) -> str:
    return s


def html_template(source: str) -> FillTemplate[str]:
    """For HTML output: values are HTML-escaped (names with '&', URLs with '&')."""
    return FillTemplate(source, literal=_identity, value=html.escape)


def text_template(source: str) -> FillTemplate[str]:
    """For plain-text output: values go in as they are."""
    return FillTemplate(source, literal=_identity, value=_identity)
