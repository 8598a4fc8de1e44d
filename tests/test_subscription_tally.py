"""The lists' tally (``subscription_tally``, migration 0020): after every kind of change
the subscriptions go through — sign-up, confirmation, unsubscribe (one or every list, the
one-click statement), resubscribe, import, erasure, a list's deletion — ``list_counts``
and the search's totals say what counting the rows says, on SQLite and PostgreSQL, inside
the changing transaction and after it; a rolled-back change leaves it as it was; folding
it on PostgreSQL changes no count; the migration counts the rows already there."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from mailer.services.imports import import_subscribers
from mailer.services.lists import create_list
from mailer.store import subscriptions as subs
from mailer.store.db import make_engine, reading, transaction, upgrade
from mailer.store.lists import ListCounts, compact_list_tally, list_counts
from mailer.store.models import (
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SubscriptionTally,
)
from mailer.store.search import search_subscribers
from mailer.store.subscribers import erase_subscriber

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
STATUSES = [s.value for s in SubscriptionStatus]


def _rows(s: Session) -> dict[str, dict[str, int]]:
    """Subscriptions per list and status, counted from the rows themselves."""
    out: dict[str, dict[str, int]] = {}
    for slug, status, n in s.execute(
            select(MailingList.slug, Subscription.status, func.count())
            .join(MailingList, MailingList.id == Subscription.list_id)
            .group_by(MailingList.slug, Subscription.status)):
        out.setdefault(slug, {})[str(status)] = n
    return out


def _counted(c: ListCounts) -> dict[str, int]:
    return {k: v for k, v in (("active", c.active), ("unconfirmed", c.unconfirmed),
                              ("unsubscribed", c.unsubscribed)) if v}


def _same(s: Session) -> dict[str, dict[str, int]]:
    """``list_counts`` (and each list's alone, and the search's totals) agree with the
    rows; returns the counts."""
    got = {c.slug: _counted(c) for c in list_counts(s)}
    rows = _rows(s)
    assert {k: v for k, v in got.items() if v} == rows
    for slug, by_status in got.items():
        assert [_counted(c) for c in list_counts(s, slug)] == [by_status]
        assert search_subscribers(s, list_slug=slug).total == sum(by_status.values())
        for status in STATUSES:
            page = search_subscribers(s, list_slug=slug, status=status, limit=500)
            assert page.total == by_status.get(status, 0) == len(page.items)
    return got


def _csv(path: Path, emails: list[str]) -> Path:
    path.write_text("email;name\n" + "".join(f"{e};Person {e[:3]}\n" for e in emails),
                    encoding="utf-8")
    return path


def test_the_tally_follows_every_change_of_the_subscriptions(engine: Engine,
                                                             tmp_path: Path) -> None:
    with transaction(engine) as s:
        news = create_list(s, "nyheter", "Nyheter").id
        other = create_list(s, "seminarier", "Seminarier", double_opt_in=False).id
        gone = create_list(s, "gamla", "Gamla").id
        assert _same(s) == {"gamla": {}, "nyheter": {}, "seminarier": {}}
    with transaction(engine) as s:
        for i in range(6):  # double opt-in: unconfirmed until confirmed
            subs.subscribe(s, f"p{i}@example.org", news, double_opt_in=True, now=NOW,
                           ip=None, wording="x")
        for i in range(4):  # single opt-in: active at once
            subs.subscribe(s, f"p{i}@example.org", other, double_opt_in=False, now=NOW,
                           ip=None, wording="x")
        subs.subscribe(s, "p0@example.org", gone, double_opt_in=False, now=NOW, ip=None,
                       wording="x")
        # inside the writing transaction, too
        assert _same(s) == {"nyheter": {"unconfirmed": 6}, "seminarier": {"active": 4},
                            "gamla": {"active": 1}}
    ids = {p.email_key: p.id for p in _people(engine)}
    with transaction(engine) as s:
        for i in range(4):
            subs.confirm(s, ids[f"p{i}@example.org"], news, now=NOW, ip=None, wording="x")
        person = s.get(Subscriber, ids["p1@example.org"])
        assert person is not None
        subs.unsubscribe(s, person, None, now=NOW, ip=None, source="test")  # every list
        assert _same(s) == {"nyheter": {"active": 3, "unconfirmed": 2, "unsubscribed": 1},
                            "seminarier": {"active": 3, "unsubscribed": 1},
                            "gamla": {"active": 1}}
    with transaction(engine) as s:
        person = s.get(Subscriber, ids["p1@example.org"])
        assert person is not None
        subs.resubscribe(s, person, news, now=NOW, ip=None, source="test", wording="x")
        subs.unsubscribe(s, person, [other], now=NOW, ip=None, source="test")  # again: no-op
    with transaction(engine) as s:
        if engine.dialect.name == "postgresql":  # the one-click's single statement
            subs.unsubscribe_in_one_statement(s, ids["p2@example.org"], other, now=NOW,
                                              ip=None, source="test")
        else:
            person = s.get(Subscriber, ids["p2@example.org"])
            assert person is not None
            subs.unsubscribe(s, person, [other], now=NOW, ip=None, source="test")
        assert _same(s) == {"nyheter": {"active": 4, "unconfirmed": 2},
                            "seminarier": {"active": 2, "unsubscribed": 2},
                            "gamla": {"active": 1}}
    # An import: new people and people already on the list (left as they are).
    emails = [f"p{i}@example.org" for i in range(3, 9)] + [f"ny{i}@example.org"
                                                            for i in range(20)]
    import_subscribers(engine, _csv(tmp_path / "people.csv", emails), "seminarier")
    with reading(engine) as s:
        counted = _same(s)
        assert counted["seminarier"]["active"] == 2 + 5 + 20  # p0, p3; p4-p8 and 20 new
    with transaction(engine) as s:
        person = s.get(Subscriber, ids["p0@example.org"])
        assert person is not None
        erase_subscriber(s, person)  # its subscriptions go by cascade
        assert _same(s) == {"nyheter": {"active": 3, "unconfirmed": 2},
                            "seminarier": {"active": 26, "unsubscribed": 2}, "gamla": {}}
    with transaction(engine) as s:  # a list deleted: its subscriptions go by cascade
        s.execute(delete(MailingList).where(MailingList.id == gone))
        s.execute(delete(Subscription).where(Subscription.list_id == gone))  # SQLite FKs
        assert "gamla" not in _same(s)
    with transaction(engine) as s:
        before = _same(s)
        compact_list_tally(s)  # PostgreSQL: fold; SQLite: one row each already
    with reading(engine) as s:
        assert _same(s) == before
        if engine.dialect.name == "postgresql":
            several = s.scalar(select(func.count()).select_from(
                select(SubscriptionTally.list_id).group_by(
                    SubscriptionTally.list_id, SubscriptionTally.status)
                .having(func.count() > 1).subquery()))
            assert several == 0


def _people(engine: Engine) -> list[Subscriber]:
    with reading(engine) as s:
        return list(s.scalars(select(Subscriber)))


def test_a_rolled_back_change_leaves_the_tally_as_it_was(engine: Engine) -> None:
    with transaction(engine) as s:
        news = create_list(s, "nyheter", "Nyheter").id
        subs.subscribe(s, "a@example.org", news, double_opt_in=False, now=NOW, ip=None,
                       wording="x")
    s = Session(engine)
    try:
        subs.subscribe(s, "b@example.org", news, double_opt_in=False, now=NOW, ip=None,
                       wording="x")
        s.flush()
        assert _same(s) == {"nyheter": {"active": 2}}
        s.rollback()
    finally:
        s.close()
    with reading(engine) as s:
        assert _same(s) == {"nyheter": {"active": 1}}


def test_concurrent_sign_ups_and_folding_lose_nothing(engine: Engine) -> None:
    """Several writers at once (each its own transactions) while the tally is folded."""
    with transaction(engine) as s:
        news = create_list(s, "nyheter", "Nyheter").id
    errors: list[BaseException] = []

    def sign_up(worker: int) -> None:
        try:
            for i in range(15):
                with transaction(engine) as s:
                    subs.subscribe(s, f"w{worker}.{i}@example.org", news,
                                   double_opt_in=False, now=NOW, ip=None, wording="x")
                with transaction(engine) as s:
                    compact_list_tally(s)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sign_up, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with reading(engine) as s:
        assert _same(s) == {"nyheter": {"active": 45}}


def _migrate_with_rows(engine: Engine) -> None:
    upgrade(engine, "0019")
    with transaction(engine) as s:
        a = create_list(s, "a", "A").id
        b = create_list(s, "b", "B").id
        for i, (lid, status) in enumerate([(a, "active"), (a, "active"), (a, "unsubscribed"),
                                           (b, "unconfirmed")]):
            person = Subscriber(email=f"m{i}@example.org", email_key=f"m{i}@example.org")
            s.add(person)
            s.flush()
            s.add(Subscription(subscriber_id=person.id, list_id=lid,
                               status=SubscriptionStatus(status)))
    upgrade(engine)
    with transaction(engine) as s:
        assert _same(s) == {"a": {"active": 2, "unsubscribed": 1}, "b": {"unconfirmed": 1}}
        subs.subscribe(s, "m9@example.org", b, double_opt_in=False, now=NOW, ip=None,
                       wording="x")
    with reading(engine) as s:  # the triggers count from there on
        assert _same(s) == {"a": {"active": 2, "unsubscribed": 1},
                            "b": {"unconfirmed": 1, "active": 1}}


def test_the_migration_counts_the_subscriptions_already_there(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    _migrate_with_rows(engine)
    engine.dispose()


def test_the_migration_counts_them_on_postgresql(pg_url: str) -> None:
    from tests.conftest import empty_pg_database

    with empty_pg_database(pg_url, "mailer_subtally") as engine:
        _migrate_with_rows(engine)
