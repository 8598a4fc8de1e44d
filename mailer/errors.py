"""User-facing errors: what went wrong, where, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in input from outside (a file, a row, a field, a setting)."""

    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None
    severity: str = "error"  # "error" or "warning"
    #: Titles of the section and item the field belongs to (issue checks), so a message
    #: can say ``section "Evenemang", item "Demokratidagen", date`` rather than a path.
    section: str | None = None
    item: str | None = None

    @property
    def short_field(self) -> str | None:
        """The field's own name inside its item or section (``date``, ``image.alt``), or the
        whole field name for a top-level field."""
        if not self.field:
            return None
        if self.section is None and self.item is None:
            return self.field
        return self.field.rsplit("]", 1)[-1].lstrip(".") or None

    def place(self) -> str:
        """``section "Evenemang", item "Demokratidagen", date`` (English; the admin shows
        it translated, see ``mailer.render.i18n.Translator.problem``)."""
        parts = []
        if self.section is not None:
            parts.append(f'section "{self.section}"')
        if self.item is not None:
            parts.append(f'item "{self.item}"')
        if (name := self.short_field) is not None:
            parts.append(name)
        return ", ".join(parts)

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        place = self.place()
        field = f"{place}: " if place else ""
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}{prefix}{field}{self.message}"


class MailerError(Exception):
    """An error the user can act on; the CLI prints it without a traceback and exits 2."""

    exit_code = 2

    def __init__(self, message: str, problems: list[Problem] | None = None, *,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []
        #: The input it is about (``url``, ``events``, …), for a form or an API answer
        #: to name; None when the message says it or it is about no one field.
        self.field = field

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return "\n".join([self.message, *(f"  {p}" for p in self.problems)])


def message_of(exc: BaseException) -> str:
    """The message ``exc`` was raised with: a translatable message
    (``mailer.domain.findings.Msg``) keeps its id, where ``str(exc)`` would lose it."""
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, str) else str(exc)


class ConfigError(MailerError):
    """A setting (environment variable or mailer.toml key) has a value we cannot use."""


class DatabaseBusy(MailerError):
    """Another process held the database's write lock past the busy timeout (SQLite):
    nothing was changed; the same request a moment later works. The web answers 503."""

    retry_after = 5


class NotFound(MailerError):
    """A named thing (list, subscriber, mailing, issue folder) does not exist."""

    exit_code = 3
