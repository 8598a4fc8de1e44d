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

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        field = f"{self.field}: " if self.field else ""
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}{prefix}{field}{self.message}"


class MailerError(Exception):
    """An error the user can act on; the CLI prints it without a traceback and exits 2."""

    exit_code = 2

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return "\n".join([self.message, *(f"  {p}" for p in self.problems)])


class ConfigError(MailerError):
    """A setting (environment variable or mailer.toml key) has a value we cannot use."""


class NotFound(MailerError):
    """A named thing (list, subscriber, mailing, issue folder) does not exist."""

    exit_code = 3
