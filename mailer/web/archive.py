"""Where the public archive gets its sent issues: a small seam in front of the mailings.

Pages ask an ``ArchiveSource`` for the issues sent to a list and for one issue; they never
query tables themselves. ``MailingsArchive`` reads what the delivery layer records.
Archived HTML still carries ``%%field%%`` placeholders (the once-rendered mailing);
``public_html`` fills them with nothing personal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailer.render.personalise import html_template, text_template
from mailer.services.archive import ArchivedIssue, archived

__all__ = ["ArchiveSource", "ArchivedIssue", "MailingsArchive", "StaticArchive",
           "public_html", "public_text", "public_values"]


class ArchiveSource(Protocol):
    def issues(self, list_slug: str) -> Sequence[ArchivedIssue]:
        """Issues sent to the list, newest first."""
        ...

    def issue(self, mailing_id: int) -> ArchivedIssue | None:
        ...


class StaticArchive:
    """An archive held in memory (tests, previews)."""

    def __init__(self, issues: Sequence[ArchivedIssue] = ()) -> None:
        self._issues = sorted(issues, key=lambda i: i.sent_at, reverse=True)

    def issues(self, list_slug: str) -> Sequence[ArchivedIssue]:
        return [i for i in self._issues if list_slug in i.list_slugs]

    def issue(self, mailing_id: int) -> ArchivedIssue | None:
        return next((i for i in self._issues if i.mailing_id == mailing_id), None)


class MailingsArchive:
    """Sent newsletter issues from the ``mailings`` table (``services.archive``).

    A newsletter mailing is in the archive once it has started sending (status sending or
    done); the public copy is built from the rendered parts stored on the mailing.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def issues(self, list_slug: str) -> Sequence[ArchivedIssue]:
        with Session(self.engine) as session:
            return [i for i in archived(session) if list_slug in i.list_slugs]

    def issue(self, mailing_id: int) -> ArchivedIssue | None:
        with Session(self.engine) as session:
            found = archived(session, mailing_id)
        return found[0] if found else None


def public_values(browser_url: str, archive_url: str) -> dict[str, str]:
    """Placeholder values for the public copy: nothing about any recipient."""
    return {"name": "", "first_name": "", "greeting": "", "email": "", "organisation": "",
            "unsubscribe_url": archive_url, "preferences_url": archive_url,
            "browser_url": browser_url, "register_url": archive_url}


def public_html(issue: ArchivedIssue, browser_url: str, archive_url: str) -> str:
    return html_template(issue.rendered.html).fill(public_values(browser_url, archive_url))


def public_text(issue: ArchivedIssue, browser_url: str, archive_url: str) -> str:
    return text_template(issue.rendered.text).fill(public_values(browser_url, archive_url))
