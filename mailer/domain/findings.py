"""Findings: problems a pure check reports at a path in a document (the loader adds lines)."""

from __future__ import annotations

from collections.abc import Callable
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
    plural: str | None  # a message with plural forms: its English plural, chosen by ``n``
    n: int
    #: The message is the command line's words. Where its advice is the command line's
    #: ("use --now", "mailer suppressions remove EMAIL"), each web edge carries its own way
    #: out: ``admin`` on the admin's pages (``with_admin``; ``describe_problem`` and the
    #: pages' ``localise`` show it), ``api`` in the JSON API's answers (``with_api``:
    #: a route or a request field, or no advice where the API has no way;
    #: ``mailer.web.api.errors.api_text`` shows it). None: the one wording is right there.
    admin: Msg | None
    api: Msg | None

    def __new__(cls, msgid: str, params: dict[str, object], plural: str | None = None,
                n: int = 1, admin: Msg | None = None, api: Msg | None = None) -> Msg:
        shown = {k: joined(v, str) for k, v in params.items()}
        english = plural if plural is not None and n != 1 else msgid
        self = super().__new__(cls, english % shown if params else english)
        self.msgid = msgid
        self.params = params
        self.plural = plural
        self.n = n
        self.admin = admin
        self.api = api
        return self

    def with_admin(self, admin: Msg) -> Msg:
        """This message (the command line's words), and ``admin`` on the admin's pages."""
        return Msg(self.msgid, self.params, self.plural, self.n, admin, self.api)

    def with_api(self, api: Msg) -> Msg:
        """This message (the command line's words), and ``api`` in the JSON API's answers
        ("DELETE /api/suppressions/{email}", "send \"late\": true")."""
        return Msg(self.msgid, self.params, self.plural, self.n, self.admin, api)

    def with_web(self, web: Msg) -> Msg:
        """This message, and ``web`` on the admin's pages and in the API's answers alike:
        advice that names no command, option, form control or route ("move
        registration.deadline in its issue.yaml")."""
        return Msg(self.msgid, self.params, self.plural, self.n, web, web)

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled with its id and values (an import's row-checking worker processes send
        rejected rows' reasons back), not as the plain English ``str`` would be."""
        return (Msg, (self.msgid, self.params, self.plural, self.n, self.admin, self.api))

    def __add__(self, other: str) -> str:  # a plain string: the id no longer describes it
        return str.__str__(self) + other


def joined(value: object, each: Callable[[str], str]) -> object:
    """A list or tuple of messages as one text (items joined with "; "), each item through
    ``each`` (``str``, or a translator's ``localise``); other values as they are."""
    if isinstance(value, list | tuple):
        return "; ".join(each(v if isinstance(v, str) else str(v)) for v in value)
    return value


def msg(msgid: str, **params: object) -> Msg:
    """``msg("the event (%(date)s) has passed", date=d)``: a translatable check or error
    message (a ``MailerError`` may carry one: the CLI prints its English, the admin shows
    it in the reader's language). Its ``msgid`` is extracted like ``_`` (keyword ``msg``)
    into the ``check.po`` and ``errors.po`` files. A list value is shown joined with "; ",
    each item translated."""
    return Msg(msgid, params)


def msgn(singular: str, plural: str, n: int, **params: object) -> Msg:
    """``msgn("%(n)s seat", "%(n)s seats", n)``: a message with plural forms, chosen by
    the reader's language for ``n`` (``n`` is among its values)."""
    return Msg(singular, {"n": n, **params}, plural, n)
