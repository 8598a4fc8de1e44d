"""Find subscribers for the admin pages and the API: by address, name or organisation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVarTuple

from sqlalchemy import ColumnElement, Select, any_, func, or_, select
from sqlalchemy.orm import Session

from mailer.domain.addresses import email_key
from mailer.domain.text import clean_line
from mailer.store.lists import get_list, subscription_count
from mailer.store.models import (
    MailingList,
    Organisation,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.store.segments import SQLITE_LOWER

MAX_QUERY = 200
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class SubscriberHit:
    id: int
    email: str
    name: str
    organisation: str
    language: str
    lists: list[tuple[str, str]] = field(default_factory=list)  # (list slug, status)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of results and how many there are in all."""

    items: list[SubscriberHit]
    total: int
    offset: int
    limit: int


def escape_like(text: str) -> str:
    """``text`` for a LIKE pattern with ``escape="\\"``: its % and _ match themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


#: A search's matches collected in one pass when there are at most this many: their
#: number is then the total and the page is cut from them, where counting them and then
#: walking the addresses in order for the page read every subscriber twice.
MATCHES_AT_ONCE = 5000

#: On PostgreSQL a search with more matches, at most this many, has them found by its
#: trigram indexes and sorted by address for the page (``_page_ids``): a cost of their
#: number (60 ms for 111,111 of a million, 90 ms for its page 1000), where walking the
#: addresses in order read a third of the million (230 ms) when the matches were
#: together, as they often are ("person4…"). With more, the walk stops early enough.
SORT_AT_MOST = 200_000


def _on_list(session: Session, list_id: int, status: SubscriptionStatus | None,
             wanted: int) -> ColumnElement[bool]:
    """Subscribers on the list (with ``status``), as the cheaper of two filters.

    Walking the addresses in order and looking each one's subscription up stops after
    ``wanted`` (the page's end) of them are on the list: cheap for a big list, a walk over
    nearly everyone for a small one. Collecting the list's subscribers first (``IN``)
    costs the list's size, whatever the page. The list's size comes from its tally, the
    number of subscribers from the largest id (an estimate only picks the plan; no count
    shown depends on it)."""
    on_list = subscription_count(session, list_id, status)
    everyone = session.scalar(select(func.max(Subscriber.id))) or 0
    sub = select(Subscription.subscriber_id).where(Subscription.list_id == list_id)
    if status is not None:
        sub = sub.where(Subscription.status == status)
    if on_list and wanted * everyone / on_list < on_list:
        return sub.where(Subscription.subscriber_id == Subscriber.id).exists()
    return Subscriber.id.in_(sub)


def _filtered(query: Select[*Ts], q: str, on_list: ColumnElement[bool] | None,
              sqlite: bool) -> Select[*Ts]:
    text = " ".join(q.split())[:MAX_QUERY].casefold()
    if text:
        pattern = f"%{escape_like(text)}%"
        # SQLite's LIKE ignores the case of ASCII letters itself (its lower() changes only
        # those): lower(name) there matched the same names a third slower per subscriber.
        # A search with other letters ("åsa" for "Åsa Öberg") compares the name lower-cased
        # by Python (the segments' Unicode-aware function), only then: it costs a call per
        # subscriber.
        name: ColumnElement[str] = func.lower(Subscriber.name)
        if sqlite:
            name = (getattr(func, SQLITE_LOWER)(Subscriber.name) if not text.isascii()
                    else Subscriber.name.expression)
        # The organisations that match first (a few hundred rows, looked up once), not
        # a join per subscriber. On PostgreSQL as an array (``= ANY``, computed once before
        # the scan): each of the three is then an index condition of its own, the address
        # and the name on their trigram indexes (migration 0022), and the matches are the
        # union of three bitmaps (a BitmapOr); an ``IN`` subquery is a filter only, which
        # made the search read every subscriber.
        orgs = select(Organisation.id).where(Organisation.name_key.like(pattern, escape="\\"))
        in_orgs = (Subscriber.organisation_id.in_(orgs) if sqlite else
                   Subscriber.organisation_id == any_(func.array(orgs.scalar_subquery())))
        query = query.where(or_(Subscriber.email_key.like(pattern, escape="\\"),
                                name.like(pattern, escape="\\"), in_orgs))
    if on_list is not None:
        query = query.where(on_list)
    return query


def _page_ids(q: str, on_list: ColumnElement[bool] | None, sqlite: bool, total: int,
              after: str | None) -> Select[int]:
    """The query of the page's subscriber ids in address order (to cut with OFFSET and
    LIMIT): the matches' addresses walked in order, or, on PostgreSQL when a search has at
    most ``SORT_AT_MOST`` matches, the matches found first (trigram indexes) and sorted."""
    if q and not sqlite and total <= SORT_AT_MOST:
        # Walking the addresses in order stops after the page's matches, but every
        # address before them is read: a search's matches are often together ("anna."
        # are all early or all late), so that walk could read most of a million. Sorting
        # the matches costs their number, whatever the page and wherever they are.
        matches = (_filtered(select(Subscriber.id, Subscriber.email_key), q, on_list, sqlite)
                   .cte("matches").prefix_with("MATERIALIZED"))
        sort = select(matches.c.id).order_by(matches.c.email_key)
        return sort.where(matches.c.email_key > after) if after is not None else sort
    # Ids only: on PostgreSQL read from the address's index alone (it includes the id,
    # migration 0022; SQLite's holds the row id), not every skipped row's heap tuple.
    walk = _filtered(select(Subscriber.id), q, on_list, sqlite).order_by(Subscriber.email_key)
    return walk.where(Subscriber.email_key > after) if after is not None else walk


def search_subscribers(session: Session, q: str = "", *, list_slug: str | None = None,
                       status: str | None = None, offset: int = 0, limit: int = 50,
                       after: str | None = None) -> Page:
    """Subscribers whose address, name or organisation contains ``q`` (case ignored),
    optionally only those on ``list_slug`` (with ``status``), ordered by address; the page
    at ``offset``, or with ``after`` (an address: the last one of the page before) the
    page of those after it, then ``offset``. ``total`` is every match either way.

    With a million subscribers (README, Admin pages at a million): a whole list's total
    comes from its tally; a search's matches are collected in one pass when they are few
    (``MATCHES_AT_ONCE``), else counted and the page read in address order, which stops
    early as matches are many. A page's ids are read first, then their rows: a deep page
    skips index entries, not rows. Every total is exact."""
    # What people type may hold control characters (a NUL even, which PostgreSQL refuses
    # in a text parameter): no stored name or address has them, so they match nothing.
    q = clean_line(q)
    offset, limit = max(offset, 0), max(1, min(limit, 500))
    after_key = email_key(clean_line(after)) if after is not None else None
    list_id = get_list(session, list_slug).id if list_slug else None
    the_status = SubscriptionStatus(status) if status else None
    # With ``after`` the page's end lies somewhere: the walk is the plan for a big list.
    on_list = (_on_list(session, list_id, the_status,
                        offset + limit if after_key is None else limit)
               if list_id is not None else None)
    joined = Organisation, Organisation.id == Subscriber.organisation_id
    sqlite = session.get_bind().dialect.name == "sqlite"
    ids: list[int] | None = None
    if q:
        found = list(session.scalars(_filtered(select(Subscriber.id), q, on_list, sqlite)
                                     .limit(MATCHES_AT_ONCE + 1)))
        if len(found) <= MATCHES_AT_ONCE:
            total, ids = len(found), found
    if ids is None:
        if list_id is not None and not q:
            # Everyone on the list (of a status): the lists' tally knows, where counting
            # them walked the list's subscriptions and their subscribers.
            total = subscription_count(session, list_id, the_status)
        else:
            base = _filtered(select(Subscriber.id), q, on_list, sqlite)
            total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    columns = (Subscriber.id, Subscriber.email, Subscriber.name, Organisation.name,
               Subscriber.language)
    # The page in the database's order of addresses (its collation) either way.
    everyone = select(*columns).outerjoin(*joined)
    if ids is not None:
        page = everyone.where(Subscriber.id.in_(ids))
        if after_key is not None:
            page = page.where(Subscriber.email_key > after_key)
        page = page.order_by(Subscriber.email_key).offset(offset).limit(limit)
    else:
        ids = list(session.scalars(_page_ids(q, on_list, sqlite, total, after_key)
                                   .offset(offset).limit(limit)))
        page = everyone.where(Subscriber.id.in_(ids)).order_by(Subscriber.email_key)
    rows = session.execute(page).all() if ids else []
    ids = [r[0] for r in rows]
    lists: dict[int, list[tuple[str, str]]] = {}
    if ids:
        for sid, slug, st in session.execute(
                select(Subscription.subscriber_id, MailingList.slug, Subscription.status)
                .join(MailingList, MailingList.id == Subscription.list_id)
                .where(Subscription.subscriber_id.in_(ids)).order_by(MailingList.slug)):
            lists.setdefault(sid, []).append((slug, str(st)))
    items = [SubscriberHit(sid, email, name, org or "", lang, lists.get(sid, []))
             for sid, email, name, org, lang in rows]
    return Page(items, total, offset, limit)
