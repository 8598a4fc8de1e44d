"""Findings: problems a pure check reports at a path in a document (the loader adds lines)."""

from __future__ import annotations

from dataclasses import dataclass

#: A position in a loaded document, e.g. ("sections", 0, "items", 2, "title").
DocPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    """A problem at ``path``; ``text_line`` counts lines inside a Markdown text (from 1)."""

    path: DocPath
    message: str
    severity: str = "error"  # "error" or "warning"
    text_line: int | None = None


class Msg(str):
    """A check message: the English text (it *is* that ``str``) plus its message id and
    values, so a page or mail can show it in the reader's language
    (``mailer.render.i18n.Translator.localise``)."""

    msgid: str
    params: dict[str, object]

    def __new__(cls, msgid: str, params: dict[str, object]) -> Msg:
        self = super().__new__(cls, msgid % params if params else msgid)
        self.msgid = msgid
        self.params = params
        return self

    def __add__(self, other: str) -> str:  # a plain string: the id no longer describes it
        return str.__str__(self) + other


def msg(msgid: str, **params: object) -> Msg:
    """``msg("the event (%(date)s) has passed", date=d)``: a translatable check message.
    Its ``msgid`` is extracted like ``_`` (keyword ``msg``) into the ``check.po`` files."""
    return Msg(msgid, params)
