"""The one-click unsubscribe's store call (``store.subscriptions.unsubscribe_and_load``) on
both databases: on PostgreSQL one statement (UPDATE … RETURNING and the consent log in
WITH), on SQLite three; the same changes, the same consent log, the same webhook event."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from mailer.domain.addresses import email_hash
from mailer.services import webhooks
from mailer.services.lists import create_list
from mailer.store.db import make_engine, transaction
from mailer.store.models import (
    ConsentEvent,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    WebhookEvent,
)
from mailer.store.subscriptions import sql_email_hash, subscribe, unsubscribe_and_load

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _person_on_two_lists(engine: Engine) -> tuple[int, int, int]:
    with transaction(engine) as s:
        a = create_list(s, "nyhetsbrev", "Nyhetsbrev", double_opt_in=False)
        b = create_list(s, "seminarier", "Seminarier", double_opt_in=False)
        sid = subscribe(s, "Åsa.Öberg@Hylte.se", a.id, double_opt_in=False, now=NOW,
                        ip=None, wording="Ja", name="Åsa Öberg").subscriber_id
        subscribe(s, "Åsa.Öberg@Hylte.se", b.id, double_opt_in=False, now=NOW, ip=None,
                  wording="Ja")
        assert sid is not None
        return sid, a.id, b.id


def _state(engine: Engine, sid: int) -> tuple[dict[int, str], list[tuple[object, ...]]]:
    with transaction(engine) as s:
        status = {lid: str(SubscriptionStatus(st)) for lid, st in s.execute(
            select(Subscription.list_id, Subscription.status)
            .where(Subscription.subscriber_id == sid))}
        events = [tuple(r) for r in s.execute(
            select(ConsentEvent.list_id, ConsentEvent.email_hash, ConsentEvent.action,
                   ConsentEvent.source, ConsentEvent.ip, ConsentEvent.wording)
            .where(ConsentEvent.subscriber_id == sid, ConsentEvent.action == "unsubscribe")
            .order_by(ConsentEvent.id))]
        return status, events


def test_one_list_changes_logs_and_loads_once(engine: Engine) -> None:
    sid, a, b = _person_on_two_lists(engine)
    with transaction(engine) as s:
        key = s.get(Subscriber, sid).email_key  # type: ignore[union-attr]
        person, lst = unsubscribe_and_load(s, sid, a, now=NOW, ip="10.0.0.1",
                                           source="one-click")
        assert person is not None and person.name == "Åsa Öberg"
        assert lst is not None and lst.id == a
    status, events = _state(engine, sid)
    assert status == {a: "unsubscribed", b: "active"}
    assert events == [(a, email_hash(key), "unsubscribe", "one-click", "10.0.0.1", "")]
    with transaction(engine) as s:  # again: still answers, changes and logs nothing
        person, lst = unsubscribe_and_load(s, sid, a, now=NOW, ip=None, source="one-click")
        assert person is not None and lst is not None
    assert _state(engine, sid)[1] == events


def test_list_zero_ends_every_list(engine: Engine) -> None:
    sid, a, b = _person_on_two_lists(engine)
    with transaction(engine) as s:
        person, lst = unsubscribe_and_load(s, sid, 0, now=NOW, ip=None, source="one-click")
        assert person is not None and lst is None
    status, events = _state(engine, sid)
    assert status == {a: "unsubscribed", b: "unsubscribed"}
    assert [e[0] for e in events] == [a, b] and {e[4] for e in events} == {None}


def test_a_missing_person_or_list_changes_nothing(engine: Engine) -> None:
    sid, a, b = _person_on_two_lists(engine)
    with transaction(engine) as s:
        assert unsubscribe_and_load(s, sid + 1000, a, now=NOW, ip=None,
                                    source="one-click") == (None, None)
        assert unsubscribe_and_load(s, sid, b + 1000, now=NOW, ip=None,
                                    source="one-click") == (None, None)
    assert _state(engine, sid) == ({a: "active", b: "active"}, [])


def test_the_webhook_event_in_the_same_transaction(engine: Engine) -> None:
    sid, a, _ = _person_on_two_lists(engine)
    with transaction(engine) as s:
        webhooks.add_endpoint(s, "https://hooks.example.org/in", "subscriber.unsubscribed")
    with transaction(engine) as s:
        unsubscribe_and_load(s, sid, a, now=NOW, ip=None, source="one-click")
        unsubscribe_and_load(s, sid, a, now=NOW, ip=None, source="one-click")  # no change
    with transaction(engine) as s:
        events = list(s.scalars(select(WebhookEvent)))
        assert [e.type for e in events] == ["subscriber.unsubscribed"]
        assert [x["id"] for x in events[0].payload["lists"]] == [a]


def test_the_hash_postgresql_computes_is_email_hash(pg_url: str) -> None:
    """PostgreSQL only (the hash in SQL is its sha256 and encode); skipped only where no
    server answers."""
    engine = make_engine(pg_url)
    try:
        with transaction(engine) as s:
            for key in ("asa.oberg@hylte.se", "åsa.öberg@hylte.se", "名前@例え.jp"):
                got = s.scalar(select(sql_email_hash(func.cast(key,
                                                               Subscriber.email_key.type))))
                assert got == email_hash(key)
    finally:
        engine.dispose()
