"""The subscribers search as the admin and the API page through it (``store.search``):
whichever way it takes — matches collected in one pass or counted and read in address
order, a list's subscribers collected first or looked up per address — the totals are
exact and the pages, put together, are every match once, in address order, whether read
by number (``offset``) or each after the last address of the one before (``after``). On
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from mailer.services.lists import create_list
from mailer.store import search
from mailer.store import subscriptions as subs
from mailer.store.db import reading, transaction
from mailer.store.models import Subscriber, SubscriptionStatus
from mailer.store.search import search_subscribers

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ORGS = ["Hylte kommun", "Region Uppsala", "Kiruna kommun"]


def _people(engine: Engine) -> dict[str, tuple[str, str, set[tuple[str, str]]]]:
    """60 people: (name, organisation, {(list, status)}) by address. Everyone is on
    "stor" (most active), one in ten on "liten"."""
    with transaction(engine) as s:
        big = create_list(s, "stor", "Stor", double_opt_in=False).id
        small = create_list(s, "liten", "Liten", double_opt_in=False).id
        orgs = [subs.find_or_create_organisation(s, name, now=NOW) for name in ORGS]
        out = {}
        for i in range(60):
            email = f"{'ab'[i % 2]}{'.-_'[i % 3]}p{(i * 37) % 60:02d}@kommun{i % 4}.example"
            name = f"Person {i} {'Lindqvist' if i % 5 else 'Holm'}"
            subs.subscribe(s, email, big, double_opt_in=False, now=NOW, ip=None, wording="x",
                           name=name)
            person = s.scalar(select(Subscriber).where(Subscriber.email_key == email))
            assert person is not None
            org = orgs[i % 3] if i % 4 else None
            person.organisation_id = org.id if org else None
            member = {("stor", "active")}
            if i % 7 == 3:
                subs.unsubscribe(s, person, [big], now=NOW, ip=None, source="test")
                member = {("stor", "unsubscribed")}
            if i % 10 == 1:
                subs.subscribe(s, email, small, double_opt_in=False, now=NOW, ip=None,
                               wording="x")
                member.add(("liten", "active"))
            out[email] = (name, org.name if org else "", member)
    return out


def _expected(people: dict[str, tuple[str, str, set[tuple[str, str]]]], q: str,
              slug: str | None, status: str | None) -> list[str]:
    text = q.casefold()
    return sorted(e for e, (name, org, member) in people.items()
                  if (not text or text in e or text in name.casefold() or text in org.casefold())
                  and (slug is None or any(lst == slug and (status is None or st == status)
                                           for lst, st in member)))


@pytest.mark.parametrize(("at_once", "sort_at_most"),
                         [(search.MATCHES_AT_ONCE, search.SORT_AT_MOST), (3, search.SORT_AT_MOST),
                          (3, 0)])
def test_every_way_of_searching_gives_exact_totals_and_stable_pages(
        engine: Engine, monkeypatch: pytest.MonkeyPatch, at_once: int,
        sort_at_most: int) -> None:
    """Matches collected at once, or counted and then (PostgreSQL) sorted or walked in
    address order."""
    monkeypatch.setattr(search, "MATCHES_AT_ONCE", at_once)
    monkeypatch.setattr(search, "SORT_AT_MOST", sort_at_most)
    people = _people(engine)
    cases = [("", None, None), ("", "stor", None), ("", "stor", "active"),
             ("", "stor", "unsubscribed"), ("", "liten", "active"), ("", "liten", None),
             ("holm", None, None), ("KOMMUN1", None, None), ("hylte", None, None),
             ("region", "stor", "active"), ("p1", "liten", None), ("_", None, None),
             ("%", None, None), ("b.", "stor", None), ("nobody", None, None),
             ("lindqvist", "stor", SubscriptionStatus.unsubscribed.value)]
    with reading(engine) as s:
        for q, slug, status in cases:
            want = _expected(people, q, slug, status)
            whole = search_subscribers(s, q, list_slug=slug, status=status, limit=500)
            assert (whole.total, [h.email for h in whole.items]) == (len(want), want), (
                q, slug, status)
            paged: list[str] = []
            for offset in range(0, len(want) + 7, 7):
                page = search_subscribers(s, q, list_slug=slug, status=status,
                                          offset=offset, limit=7)
                assert page.total == len(want), (q, slug, status, offset)
                paged += [h.email for h in page.items]
            assert paged == want, (q, slug, status)
            # The API's ``after``: each page starts after the last address of the one
            # before (as typed: any case), and the total is still every match.
            chained: list[str] = []
            while True:
                page = search_subscribers(s, q, list_slug=slug, status=status, limit=7,
                                          after=chained[-1].upper() if chained else None)
                assert page.total == len(want), (q, slug, status, chained[-1:])
                if not page.items:
                    break
                chained += [h.email for h in page.items]
            assert chained == want, (q, slug, status)
            for hit in whole.items:
                name, org, member = people[hit.email]
                assert (hit.name, hit.organisation) == (name, org)
                assert set(hit.lists) == member


def test_names_with_swedish_letters_are_found_in_any_case(engine: Engine) -> None:
    """"åsa" finds Åsa Öberg and "ÖBERG" too: SQLite's LIKE ignores the case of ASCII
    letters only, so the name is compared lower-cased by Python there (it found nobody)."""
    with transaction(engine) as s:
        lst = create_list(s, "namn", "Namn", double_opt_in=False).id
        for email, name in (("p1@hylte.example", "Åsa Öberg"),
                            ("p2@hylte.example", "Örjan Ängström"),
                            ("p3@hylte.example", "Asa Berg")):
            subs.subscribe(s, email, lst, double_opt_in=False, now=NOW, ip=None,
                           wording="x", name=name)
    cases = {"åsa": ["p1@hylte.example"], "ÅSA": ["p1@hylte.example"],
             "ÖBERG": ["p1@hylte.example"], "ängström": ["p2@hylte.example"],
             "asa": ["p3@hylte.example"], "BERG": ["p1@hylte.example", "p3@hylte.example"]}
    with reading(engine) as s:
        for q, emails in cases.items():
            page = search_subscribers(s, q)
            assert sorted(r.email for r in page.items) == emails, q
            assert page.total == len(emails), q
