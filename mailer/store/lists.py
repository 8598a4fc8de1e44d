"""Lists in the database: add, find, and count subscriptions per status (queries only;
the rules for a new list are in ``mailer.services.lists``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.domain.findings import msg
from mailer.errors import NotFound
from mailer.store import tally
from mailer.store.models import MailingList, SubscriptionStatus, SubscriptionTally


@dataclass(frozen=True, slots=True)
class ListCounts:
    slug: str
    name: str
    active: int
    unconfirmed: int
    unsubscribed: int
    brand: str = ""  # its newsletter's brand ("" = the workspace's)

    @property
    def total(self) -> int:
        return self.active + self.unconfirmed + self.unsubscribed


def find_list(session: Session, slug: str) -> MailingList | None:
    if "\x00" in slug:
        return None  # no list is called that, and PostgreSQL refuses NUL in text
    return session.scalar(select(MailingList).where(MailingList.slug == slug))


def add_list(session: Session, *, slug: str, name: str, description: str, public: bool,
             double_opt_in: bool, language: str, brand: str = "") -> MailingList:
    lst = MailingList(slug=slug, name=name, description=description, public=public,
                      double_opt_in=double_opt_in, language=language, brand=brand)
    session.add(lst)
    session.flush()
    return lst


def brands_of(session: Session, list_ids: Iterable[int]) -> set[str]:
    """The brands (newsletters) the lists ``list_ids`` belong to."""
    ids = set(list_ids)
    if not ids:
        return set()
    return set(session.scalars(select(MailingList.brand).where(MailingList.id.in_(ids))))


def get_list(session: Session, slug: str) -> MailingList:
    lst = find_list(session, slug)
    if lst is None:
        known = ", ".join(session.scalars(select(MailingList.slug).order_by(MailingList.slug)))
        if not known:
            raise NotFound(msg("no list %(slug)r; there are no lists yet (mailer lists "
                               "create)", slug=slug).with_admin(msg(
                "no list %(slug)r; there are no lists yet (create one on the Lists page)",
                slug=slug)).with_api(msg(
                "no list %(slug)r; there are no lists yet (create one with POST /api/lists)",
                slug=slug)))
        raise NotFound(msg("no list %(slug)r; known lists: %(known)s", slug=slug,
                           known=known))
    return lst


def list_counts(session: Session, slug: str | None = None) -> list[ListCounts]:
    """Every list (or only the one ``slug``) with its number of subscriptions per status.

    Summed from ``subscription_tally``, which the database keeps in step with the
    subscriptions in the same transactions (``models.SubscriptionTally``): a few rows per
    list whatever its size, exactly the subscriptions this transaction's snapshot sees."""
    t = SubscriptionTally
    total = func.sum(t.n)
    counted = select(t.list_id, t.status, total).group_by(t.list_id, t.status)
    lists = select(MailingList).order_by(MailingList.slug)
    if slug is not None:
        lists = lists.where(MailingList.slug == slug)
        counted = counted.where(t.list_id.in_(select(MailingList.id).where(
            MailingList.slug == slug)))
    counts: dict[int, dict[SubscriptionStatus, int]] = {}
    for list_id, status, n in session.execute(counted).all():
        counts.setdefault(list_id, {})[SubscriptionStatus(status)] = int(n)
    out = []
    for lst in session.scalars(lists):
        c = counts.get(lst.id, {})
        out.append(ListCounts(lst.slug, lst.name, c.get(SubscriptionStatus.active, 0),
                              c.get(SubscriptionStatus.unconfirmed, 0),
                              c.get(SubscriptionStatus.unsubscribed, 0), lst.brand))
    return out


def subscription_count(session: Session, list_id: int,
                       status: SubscriptionStatus | None = None) -> int:
    """The list's subscriptions (of ``status``, or all), from ``subscription_tally``."""
    t = SubscriptionTally
    q = select(func.coalesce(func.sum(t.n), 0)).where(t.list_id == list_id)
    if status is not None:
        q = q.where(t.status == status.value)
    return int(session.scalar(q) or 0)


#: ``pg_try_advisory_xact_lock`` key of ``compact_list_tally`` ("subtally").
LIST_TALLY_LOCK_KEY = int.from_bytes(b"subtally", "big") & 0x7FFF_FFFF_FFFF_FFFF


def compact_list_tally(session: Session) -> None:
    """PostgreSQL: fold each list's tally rows into one per status (the statement triggers
    append one per change); a no-op on SQLite (``store.tally.fold``)."""
    tally.fold(session, SubscriptionTally, ("list_id", "status"), LIST_TALLY_LOCK_KEY)
