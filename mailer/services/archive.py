"""The public archive's content: newsletters that went out, per list or per newsletter
(brand)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailer.config import Settings
from mailer.domain.brand import Brand
from mailer.render.types import RenderedMailing
from mailer.services.brands import brand_of
from mailer.store import mailings as store
from mailer.store.models import MailingKind
from mailer.store.subscriptions import public_list


@dataclass(frozen=True, slots=True)
class ArchivedIssue:
    """One sent mailing as the public may see it."""

    mailing_id: int
    list_slugs: tuple[str, ...]
    sent_at: datetime
    rendered: RenderedMailing
    brand: str = ""  # the newsletter it went out as ("" = the workspace's [brand])
    source: str = ""  # the issue's folder ("issues/2026-nr06-juni"; "" when none)

    @property
    def subject(self) -> str:
        return self.rendered.subject

    @property
    def summary(self) -> str:
        return self.rendered.preheader


def archived(session: Session, mailing_id: int | None = None, *,
             bodies: bool = True) -> list[ArchivedIssue]:
    """Newsletters that started sending (status sending or done), newest first, built from
    the rendered parts stored on each mailing (without ``bodies``: subject, summary and
    date only, HTML and text empty — for lists of issues); ``mailing_id`` may also name an
    invitation or a reminder."""
    # One mailing (a "view in browser" link) may also be an invitation or a reminder:
    # every copy of those links to it too. Lists of issues are newsletters only.
    kinds = store.VIEWABLE_KINDS if mailing_id is not None else (MailingKind.newsletter,)
    mailings = store.archived_newsletters(session, mailing_id, bodies=bodies, kinds=kinds)
    slugs = store.list_slugs(session, {i for m in mailings for i in (m.list_ids or [])})
    return [ArchivedIssue(
        mailing_id=m.id,
        list_slugs=tuple(slugs[i] for i in (m.list_ids or []) if i in slugs),
        sent_at=m.started_at or m.created_at,
        rendered=RenderedMailing(subject=m.subject, html=m.html if bodies else "",
                                 text=m.text if bodies else "",
                                 language=m.language, preheader=m.preheader),
        brand=m.brand,
        source=m.source or "",
    ) for m in mailings]


def once_per_issue(issues: Sequence[ArchivedIssue]) -> list[ArchivedIssue]:
    """Each issue once, as it first went out, in the order given (newest first): an issue
    sent again to the same readers (``--again``, the admin's tick, or another segment of
    the same list) made a second mailing, and the archive listed it twice (its feeds
    too, as a new entry). The first mailing keeps its date, permalink and feed id; the
    later ones stay readable at their own address. Mailings without a folder are each
    their own issue."""
    seen: set[str] = set()
    kept: list[ArchivedIssue] = []
    for issue in reversed(issues):
        if issue.source:
            if issue.source in seen:
                continue
            seen.add(issue.source)
        kept.append(issue)
    return kept[::-1]



@dataclass(frozen=True, slots=True)
class Newsletter:
    """What one archive page and its feeds show: a public list, or a whole newsletter (a
    brand of mailer.toml: every issue it sent to a public list)."""

    slug: str  # /archive/<slug>
    name: str
    description: str
    language: str
    brand_name: str  # "" = the workspace's [brand]
    brand: Brand
    list_slug: str  # the list to subscribe to ("" for a brand's archive)


def newsletter(session: Session, settings: Settings, slug: str) -> Newsletter | None:
    """The archive called ``slug``: a public list (its brand's look), else a brand of
    mailer.toml; None for anything else (a private list is never shown)."""
    lst = public_list(session, slug)
    if lst is not None:
        return Newsletter(lst.slug, lst.name, lst.description, lst.language, lst.brand,
                          brand_of(settings, lst.brand), lst.slug)
    if slug in settings.brands:
        brand = brand_of(settings, slug)
        return Newsletter(slug, brand.name or slug, brand.description, settings.language,
                          slug, brand, "")
    return None
