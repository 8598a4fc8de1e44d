"""Mailing lists: create or edit one (with the rules for its name and brand), list them
with their counts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.domain.findings import msg
from mailer.domain.text import has_control
from mailer.errors import MailerError, NotFound
from mailer.services.brands import check_brand
from mailer.store.lists import ListCounts, add_list, find_list, get_list, list_counts
from mailer.store.models import MailingList
from mailer.store.search import Page, search_subscribers

__all__ = ["LANGUAGES", "SLUG_RE", "ListCounts", "ListPage", "counts_of", "create_list",
           "edit_list", "get_list", "list_counts", "list_page"]

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
LANGUAGES = ("sv", "en")


def create_list(session: Session, slug: str, name: str, *, description: str = "",
                public: bool = True, double_opt_in: bool = True,
                language: str = "sv", brand: str = "",
                settings: Settings | None = None) -> MailingList:
    """Create a list; the slug is its stable name in URLs and commands. ``brand`` names
    its newsletter (a [brands.<name>] of ``settings``' mailer.toml)."""
    if not SLUG_RE.match(slug):
        raise MailerError(msg(
            "list slug %(slug)r is not valid: use lower-case letters a-z, digits and '-', "
            "starting with a letter or digit, at most 63 characters (e.g. "
            "'medborgardialog')", slug=slug))
    if not name.strip():
        raise _empty_name()
    _one_line(name, description)
    if find_list(session, slug) is not None:
        raise MailerError(msg("a list named %(slug)r exists already", slug=slug))
    brand = _brand(settings, brand, slug)
    return add_list(session, slug=slug, name=name.strip(), description=description,
                    public=public, double_opt_in=double_opt_in, language=language,
                    brand=brand)


def _one_line(name: str, description: str) -> None:
    if has_control(name) or has_control(description):
        raise MailerError(msg("a list's name and description are one line of text, without "
                              "control characters"),
                          field="name" if has_control(name) else "description")


def _empty_name() -> MailerError:
    return MailerError(msg("--name must not be empty").with_web(
        msg("the name must not be empty")), field="name")


def _brand(settings: Settings | None, brand: str, slug: str) -> str:
    if brand.strip() and settings is None:
        raise MailerError("a list's brand needs the workspace's settings to check it")
    return check_brand(settings, brand, f"list {slug}") if settings is not None else ""


def edit_list(session: Session, settings: Settings, slug: str, *, name: str | None = None,
              description: str | None = None, brand: str | None = None) -> MailingList:
    """Change a list's name, description or brand (None = leave as it is; brand "" = the
    workspace's [brand]). Mailings already planned keep the brand they were planned with."""
    lst = get_list(session, slug)
    _one_line(name or "", description or "")
    if name is not None:
        if not name.strip():
            raise _empty_name()
        lst.name = name.strip()
    if description is not None:
        lst.description = description
    if brand is not None:
        lst.brand = _brand(settings, brand, slug)
    session.flush()
    return lst


def unknown_lists(session: Session, slugs: list[str]) -> list[str]:
    """For each of ``slugs`` that names no list of the workspace, the refusal a send to it
    would give ("no list 'x'; known lists: a, b"): ``mailer issue check`` reports them
    before the send does."""
    out = []
    for slug in slugs:
        try:
            get_list(session, slug)
        except NotFound as exc:
            out.append(exc.message)
    return out


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
