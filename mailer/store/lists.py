"""Lists: create, find, and count subscriptions per status."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.errors import MailerError, NotFound
from mailer.store.models import MailingList, Subscription, SubscriptionStatus

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True, slots=True)
class ListCounts:
    slug: str
    name: str
    active: int
    unconfirmed: int
    unsubscribed: int

    @property
    def total(self) -> int:
        return self.active + self.unconfirmed + self.unsubscribed


def create_list(session: Session, slug: str, name: str, *, description: str = "",
                public: bool = True, double_opt_in: bool = True,
                language: str = "sv") -> MailingList:
    """Create a list; the slug is its stable name in URLs and commands."""
    if not SLUG_RE.match(slug):
        raise MailerError(
            f"list slug {slug!r} is not valid: use lower-case letters a-z, digits and '-', "
            "starting with a letter or digit, at most 63 characters (e.g. 'medborgardialog')"
        )
    if not name.strip():
        raise MailerError("--name must not be empty")
    if session.scalar(select(MailingList).where(MailingList.slug == slug)):
        raise MailerError(f"a list named {slug!r} exists already")
    lst = MailingList(slug=slug, name=name.strip(), description=description, public=public,
                      double_opt_in=double_opt_in, language=language)
    session.add(lst)
    session.flush()
    return lst


def get_list(session: Session, slug: str) -> MailingList:
    lst = session.scalar(select(MailingList).where(MailingList.slug == slug))
    if lst is None:
        known = ", ".join(session.scalars(select(MailingList.slug).order_by(MailingList.slug)))
        raise NotFound(f"no list {slug!r}; known lists: {known or 'none (mailer lists create)'}")
    return lst


def list_counts(session: Session) -> list[ListCounts]:
    """Every list with its number of subscriptions per status."""
    rows = session.execute(
        select(Subscription.list_id, Subscription.status, func.count())
        .group_by(Subscription.list_id, Subscription.status)
    ).all()
    counts: dict[int, dict[SubscriptionStatus, int]] = {}
    for list_id, status, n in rows:
        counts.setdefault(list_id, {})[SubscriptionStatus(status)] = n
    out = []
    for lst in session.scalars(select(MailingList).order_by(MailingList.slug)):
        c = counts.get(lst.id, {})
        out.append(ListCounts(lst.slug, lst.name, c.get(SubscriptionStatus.active, 0),
                              c.get(SubscriptionStatus.unconfirmed, 0),
                              c.get(SubscriptionStatus.unsubscribed, 0)))
    return out
