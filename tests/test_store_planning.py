"""Planning a mailing: each active subscriber once, however many of its lists they are on;
the count returned is the rows added (0 when planned again), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import (
    Mailing,
    MailingKind,
    MailingStatus,
    OutboxRow,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.store.outbox import PlannedRecipient, claim_batch, plan_explicit, plan_lists
from mailer.store.subscribers import erase_subscriber

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def test_each_person_once_over_several_lists(engine: Engine) -> None:
    with transaction(engine) as s:
        a = create_list(s, "a", "A").id
        b = create_list(s, "b", "B").id
        on = {"anna": [a, b], "bo": [b], "cia": [a], "dan": [a, b]}
        for name, lists in on.items():
            person = Subscriber(email=f"{name}@example.org", email_key=f"{name}@example.org",
                                name=name.title())
            s.add(person)
            s.flush()
            for list_id in lists:
                status = (SubscriptionStatus.unsubscribed if (name, list_id) == ("dan", a)
                          else SubscriptionStatus.active)
                s.add(Subscription(subscriber_id=person.id, list_id=list_id, status=status))
        both = Mailing(kind=MailingKind.newsletter, subject="x", html="", text="")
        only_a = Mailing(kind=MailingKind.newsletter, subject="y", html="", text="")
        s.add_all([both, only_a])
        s.flush()
        # fresh: a mailing with no rows yet takes a plain INSERT (no ON CONFLICT)
        assert plan_lists(s, both.id, [a, b], NOW, fresh=True) == 4
        assert plan_lists(s, both.id, [a, b], NOW) == 0
        assert plan_lists(s, only_a.id, [a], NOW, fresh=True) == 2
        assert plan_lists(s, only_a.id, [a, a], NOW) == 0
        rows = {(m, e, lst) for m, e, lst in s.execute(
            select(OutboxRow.mailing_id, OutboxRow.email_key, OutboxRow.list_id))}
    assert rows == {(both.id, "anna@example.org", a), (both.id, "bo@example.org", b),
                    (both.id, "cia@example.org", a), (both.id, "dan@example.org", b),
                    (only_a.id, "anna@example.org", a), (only_a.id, "cia@example.org", a)}


def test_erasure_removes_every_outbox_row_of_the_person(engine: Engine) -> None:
    """The outbox has no foreign key to cascade (migration 0015): erasure deletes the
    person's rows itself, those planned under an address changed since included; and a
    row whose subscriber is gone (planned while the erasure ran) is never sent."""
    with transaction(engine) as s:
        a = create_list(s, "a", "A").id
        people = {}
        for name in ("anna", "bo"):
            person = Subscriber(email=f"{name}@example.org", email_key=f"{name}@example.org")
            s.add(person)
            s.flush()
            s.add(Subscription(subscriber_id=person.id, list_id=a,
                               status=SubscriptionStatus.active))
            people[name] = person.id
        news = Mailing(kind=MailingKind.newsletter, subject="x", html="", text="",
                       status=MailingStatus.sending)
        s.add(news)
        s.flush()
        assert plan_lists(s, news.id, [a], NOW, fresh=True) == 2
        anna = s.get(Subscriber, people["anna"])
        assert anna is not None
        anna.email = anna.email_key = "anna.ny@example.org"  # a new address since planning
        s.flush()
        test = Mailing(kind=MailingKind.test, subject="t", html="", text="",
                       status=MailingStatus.sending)
        s.add(test)
        s.flush()
        assert plan_explicit(s, test.id, [PlannedRecipient("Anna.Ny@example.org")], NOW) == 1
        erase_subscriber(s, anna)
    with transaction(engine) as s:
        left = set(s.execute(select(OutboxRow.mailing_id, OutboxRow.email_key)).all())
        assert left == {(news.id, "bo@example.org")}
        # As if planning had read the subscribers just before the erasure committed.
        s.add(OutboxRow(mailing_id=news.id, subscriber_id=people["anna"], list_id=a,
                        email="anna.ny@example.org", email_key="anna.ny@example.org",
                        next_attempt_at=NOW))
        # The same for a row planned by name (an invitation's): no list consent to miss.
        s.add(OutboxRow(mailing_id=test.id, subscriber_id=people["anna"], list_id=None,
                        email="anna.ny@example.org", email_key="anna.ny@example.org",
                        next_attempt_at=NOW))
    with transaction(engine) as s:
        claimed = claim_batch(s, "w1", 10, NOW + timedelta(seconds=1))
        assert [c.email for c in claimed] == ["bo@example.org"]
        # not sent, and the erased address is not kept
        assert s.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.subscriber_id == people["anna"])) == 0
