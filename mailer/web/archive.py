"""Where the public archive gets its sent issues: a small seam in front of the mailings.

Pages ask an ``ArchiveSource`` for the issues sent to a list and for one issue; they never
query tables themselves. ``MailingsArchive`` reads what the delivery layer records.
Archived HTML still carries ``%%field%%`` placeholders (the once-rendered mailing);
``public_html`` leaves out the footer lines about one recipient and fills the rest with
nothing personal.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Protocol
from urllib.parse import urlencode

from sqlalchemy import Engine

from mailer.render.personalise import html_template
from mailer.services.archive import ArchivedIssue, archived, once_per_issue
from mailer.store.db import reading

__all__ = ["ArchiveSource", "ArchivedIssue", "MailingsArchive", "StaticArchive",
           "public_html", "public_values"]


class ArchiveSource(Protocol):
    def issues(self, list_slug: str) -> Sequence[ArchivedIssue]:
        """Issues sent to the list, newest first."""
        ...

    def issue(self, mailing_id: int) -> ArchivedIssue | None:
        ...

    def brand_issues(self, brand: str) -> Sequence[ArchivedIssue]:
        """Issues sent as the newsletter ``brand``, newest first."""
        ...


class StaticArchive:
    """An archive held in memory (tests, previews)."""

    def __init__(self, issues: Sequence[ArchivedIssue] = ()) -> None:
        self._issues = sorted(issues, key=lambda i: i.sent_at, reverse=True)

    def issues(self, list_slug: str) -> Sequence[ArchivedIssue]:
        return once_per_issue([i for i in self._issues if list_slug in i.list_slugs])

    def issue(self, mailing_id: int) -> ArchivedIssue | None:
        return next((i for i in self._issues if i.mailing_id == mailing_id), None)

    def brand_issues(self, brand: str) -> Sequence[ArchivedIssue]:
        return once_per_issue([i for i in self._issues if i.brand == brand])


class MailingsArchive:
    """Sent newsletter issues from the ``mailings`` table (``services.archive``).

    A newsletter mailing is in the archive once it has started sending (status sending or
    done); the public copy is built from the rendered parts stored on the mailing.
    Lists of issues load no HTML, and both answers are kept for ``ttl`` seconds (the
    pages are cached as long by browsers and proxies anyway), so a thousand issues or a
    crowd of readers cost one light query a minute, read without the write lock.
    """

    def __init__(self, engine: Engine, *, ttl: float = 60.0, clock: Callable[[], float]
                 = time.monotonic, max_issues: int = 64) -> None:
        self.engine = engine
        self.ttl = ttl
        self.clock = clock
        self.max_issues = max_issues
        self._lists: tuple[float, list[ArchivedIssue]] | None = None
        self._issues: OrderedDict[int, tuple[float, ArchivedIssue | None]] = OrderedDict()
        self._lock = threading.Lock()

    def _all(self) -> list[ArchivedIssue]:
        now = self.clock()
        with self._lock:
            cached = self._lists
        if cached is None or now - cached[0] >= self.ttl:
            with reading(self.engine) as session:
                cached = (now, archived(session, bodies=False))
            with self._lock:
                self._lists = cached
        return cached[1]

    def issues(self, list_slug: str) -> Sequence[ArchivedIssue]:
        return once_per_issue([i for i in self._all() if list_slug in i.list_slugs])

    def brand_issues(self, brand: str) -> Sequence[ArchivedIssue]:
        return once_per_issue([i for i in self._all() if i.brand == brand])

    def issue(self, mailing_id: int) -> ArchivedIssue | None:
        now = self.clock()
        with self._lock:
            hit = self._issues.get(mailing_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        with reading(self.engine) as session:
            found = archived(session, mailing_id)
        issue = found[0] if found else None
        with self._lock:
            self._issues[mailing_id] = (now, issue)
            self._issues.move_to_end(mailing_id)
            while len(self._issues) > self.max_issues:
                self._issues.popitem(last=False)
        return issue


#: The innermost paragraph (or block) around a recipient's own address, their unsubscribe
#: and preferences links, or the "view in browser" link: in the public copy "You receive
#: this e-mail at  because …", "Unsubscribe" leading to the archive, and "view it in your
#: browser" on the browser page itself make no sense, so these are left out whole.
_PERSONAL = re.compile(
    r"<(p|div)\b[^>]*>(?:(?!</?(?:p|div)\b).)*?"
    r"%%(?:email|unsubscribe_url|preferences_url|browser_url)%%"
    r"(?:(?!</?(?:p|div)\b).)*?</\1>", re.DOTALL | re.IGNORECASE)


#: Where the register button of an invitation's public copy leads (``routes.register``): our
#: form is one invitee's own (its link is signed for them), so this page says to register
#: from the invitation they received. Relative: the public copy is a page of this site.
PUBLIC_REGISTER_PATH = "/register"


def public_values(browser_url: str, archive_url: str, language: str = "sv") -> dict[str, str]:
    """Placeholder values for the public copy: nothing about any recipient."""
    return {"name": "", "first_name": "", "greeting": "", "email": "", "organisation": "",
            "unsubscribe_url": archive_url, "preferences_url": archive_url,
            "browser_url": browser_url,
            "register_url": f"{PUBLIC_REGISTER_PATH}?{urlencode({'lang': language})}"}


def public_html(issue: ArchivedIssue, browser_url: str, archive_url: str) -> str:
    """The issue as anyone may read it: the parts about one recipient are left out (see
    ``_PERSONAL``), the other placeholders filled with nothing personal."""
    return html_template(_public_source(issue.rendered.html)).fill(
        public_values(browser_url, archive_url, issue.rendered.language))


@lru_cache(maxsize=64)
def _public_source(html: str) -> str:
    """``html`` without the parts about one recipient; kept for the issues read most (a
    few ms for a large issue; the archive keeps each issue's text as one object, whose
    hash Python keeps, so a hit costs next to nothing)."""
    return _PERSONAL.sub("", html)
