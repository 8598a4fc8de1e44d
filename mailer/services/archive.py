"""The public archive's content: newsletters that went out, and which lists are public."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailer.render.types import RenderedMailing
from mailer.store import mailings as store


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


def archived(session: Session, mailing_id: int | None = None, *,
             bodies: bool = True) -> list[ArchivedIssue]:
    """Newsletters that started sending (status sending or done), newest first, built from
    the rendered parts stored on each mailing (without ``bodies``: subject, summary and
    date only, HTML and text empty — for lists of issues)."""
    mailings = store.archived_newsletters(session, mailing_id, bodies=bodies)
    slugs = store.list_slugs(session, {i for m in mailings for i in (m.list_ids or [])})
    return [ArchivedIssue(
        mailing_id=m.id,
        list_slugs=tuple(slugs[i] for i in (m.list_ids or []) if i in slugs),
        sent_at=m.started_at or m.created_at,
        rendered=RenderedMailing(subject=m.subject, html=m.html if bodies else "",
                                 text=m.text if bodies else "",
                                 language=m.language, preheader=m.preheader),
    ) for m in mailings]

