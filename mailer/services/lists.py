"""Mailing lists: create one (with the rules for its name), list them with their counts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mailer.domain.findings import msg
from mailer.errors import MailerError
from mailer.store.lists import ListCounts, add_list, find_list, get_list, list_counts
from mailer.store.models import MailingList
from mailer.store.search import Page, search_subscribers

__all__ = ["LANGUAGES", "SLUG_RE", "ListCounts", "ListPage", "counts_of", "create_list",
           "get_list", "list_counts", "list_page"]

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
LANGUAGES = ("sv", "en")


def create_list(session: Session, slug: str, name: str, *, description: str = "",
                public: bool = True, double_opt_in: bool = True,
                language: str = "sv") -> MailingList:
    """Create a list; the slug is its stable name in URLs and commands."""
    if not SLUG_RE.match(slug):
        raise MailerError(msg(
            "list slug %(slug)r is not valid: use lower-case letters a-z, digits and '-', "
            "starting with a letter or digit, at most 63 characters (e.g. "
            "'medborgardialog')", slug=slug))
    if not name.strip():
        raise MailerError(msg("--name must not be empty"))
    if find_list(session, slug) is not None:
        raise MailerError(msg("a list named %(slug)r exists already", slug=slug))
    return add_list(session, slug=slug, name=name.strip(), description=description,
                    public=public, double_opt_in=double_opt_in, language=language)


def counts_of(session: Session, slug: str) -> ListCounts:
    """One list's subscriptions per status (NotFound, with the known lists, if none)."""
    get_list(session, slug)
    (counts,) = list_counts(session, slug)
    return counts


@dataclass(frozen=True, slots=True)
class ListPage:
    """A list, its counts and one page of its subscribers."""

    list: MailingList
    counts: ListCounts
    hits: Page


def list_page(session: Session, slug: str, *, q: str = "", status: str | None = "active",
              offset: int = 0, limit: int = 50) -> ListPage:
    """The list ``slug`` with one page of the subscribers matching ``q`` (all statuses
    when ``status`` is None)."""
    lst = get_list(session, slug)
    (counts,) = list_counts(session, slug)
    hits = search_subscribers(session, q, list_slug=slug, status=status, offset=offset,
                              limit=limit)
    return ListPage(lst, counts, hits)
