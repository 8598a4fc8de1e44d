"""Where the public archive gets its sent issues: a small seam in front of the mailings.

Pages ask an ``ArchiveSource`` for the issues sent to a list and for one issue; they never
query tables themselves. ``MailingsArchive`` reads what the delivery layer records; until
that layer's ``mailings`` table exists in this installation it answers "nothing sent yet".
Archived HTML still carries ``%%field%%`` placeholders (the once-rendered mailing);
``public_html`` fills them with nothing personal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from mailer.render.personalise import html_template, text_template
from mailer.render.types import RenderedMailing


@dataclass(frozen=True, slots=True)
class ArchivedIssue:
    """One sent mailing as the public may see it."""

    mailing_id: int
    list_slugs: tuple[str, ...]
    sent_at: datetime
    rendered: RenderedMailing

    @property
    def subject(self) -> str:
        return self.rendered.subject

    @property
    def summary(self) -> str:
        return self.rendered.preheader


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


class MailingsArchive(StaticArchive):
    """Sent newsletter issues from the delivery layer's mailings.

    Integration point: the deliver branch adds the ``mailings`` table. Until it is merged
    this source is empty (the archive pages say "nothing sent yet"); after the merge,
    ``issues``/``issue`` select mailings of kind "issue" with status sent, per list,
    newest first, and build ``RenderedMailing`` from the stored rendered parts.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(())
        self.engine = engine


def public_values(browser_url: str, archive_url: str) -> dict[str, str]:
    """Placeholder values for the public copy: nothing about any recipient."""
    return {"name": "", "first_name": "", "email": "", "organisation": "",
            "unsubscribe_url": archive_url, "preferences_url": archive_url,
            "browser_url": browser_url, "register_url": archive_url}


def public_html(issue: ArchivedIssue, browser_url: str, archive_url: str) -> str:
    return html_template(issue.rendered.html).fill(public_values(browser_url, archive_url))


def public_text(issue: ArchivedIssue, browser_url: str, archive_url: str) -> str:
    return text_template(issue.rendered.text).fill(public_values(browser_url, archive_url))
