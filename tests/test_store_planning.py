"""Planning a mailing: each active subscriber once, however many of its lists they are on;
the count returned is the rows added (0 when planned again), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import (
    Mailing,
    MailingKind,
    OutboxRow,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.store.outbox import plan_lists

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
        assert plan_lists(s, both.id, [a, b], NOW) == 4
        assert plan_lists(s, both.id, [a, b], NOW) == 0
        assert plan_lists(s, only_a.id, [a], NOW) == 2
        assert plan_lists(s, only_a.id, [a, a], NOW) == 0
        rows = {(m, e, lst) for m, e, lst in s.execute(
            select(OutboxRow.mailing_id, OutboxRow.email_key, OutboxRow.list_id))}
    assert rows == {(both.id, "anna@example.org", a), (both.id, "bo@example.org", b),
                    (both.id, "cia@example.org", a), (both.id, "dan@example.org", b),
                    (only_a.id, "anna@example.org", a), (only_a.id, "cia@example.org", a)}
