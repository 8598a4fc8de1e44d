"""Sender health's "unsubscribed after this mailing": a person counts for a mailing when
their subscription on the copy's list ended after that copy was sent; list mailings and
explicit ones (an invitation's rows carry their list) alike, on SQLite and PostgreSQL;
and the count starts from the ended subscriptions, not from every copy sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text, update

from mailer.services.lists import create_list
from mailer.store.db import transaction
from mailer.store.models import (
    Mailing,
    MailingKind,
    MailingStatus,
    OutboxStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.store.outbox import (
    PlannedRecipient,
    Record,
    claim_batch,
    plan_explicit,
    plan_lists,
    record_outcomes,
)
from mailer.store.suppressions import health_counts

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def test_unsubscribed_after_the_copy_was_sent(engine: Engine) -> None:
    with transaction(engine) as s:
        a = create_list(s, "a", "A").id
        ids = {}
        for name in ("anna", "bo", "cia", "dan", "eva"):
            person = Subscriber(email=f"{name}@example.org", email_key=f"{name}@example.org")
            s.add(person)
            s.flush()
            s.add(Subscription(subscriber_id=person.id, list_id=a,
                               status=SubscriptionStatus.active))
            ids[name] = person.id
        news = Mailing(kind=MailingKind.newsletter, subject="x", html="", text="",
                       status=MailingStatus.sending, list_ids=[a], created_at=NOW)
        invite = Mailing(kind=MailingKind.invitation, subject="y", html="", text="",
                         status=MailingStatus.sending, list_ids=[], created_at=NOW)
        s.add_all([news, invite])
        s.flush()
        plan_lists(s, news.id, [a], NOW, fresh=True)
        plan_explicit(s, invite.id, [PlannedRecipient(f"{n}@example.org", subscriber_id=ids[n],
                                                      list_id=a) for n in ("anna", "dan")],
                      NOW)
        claimed = claim_batch(s, "w", 10, NOW)
        sent_at = NOW + timedelta(minutes=1)
        record_outcomes(s, "w", [
            Record(c.id, OutboxStatus.failed if c.email.startswith("cia") else OutboxStatus.sent,
                   "250", "", sent_at, None if c.email.startswith("cia") else sent_at)
            for c in claimed], sent_at)
        ended = {"anna": sent_at + timedelta(hours=1),  # after: counts for both mailings
                 "bo": sent_at - timedelta(seconds=1),  # before the copy went: not counted
                 "cia": sent_at + timedelta(hours=1)}  # her copy failed: not counted
        for name, when in ended.items():
            s.execute(update(Subscription).where(Subscription.subscriber_id == ids[name])
                      .values(status=SubscriptionStatus.unsubscribed, unsubscribed_at=when))
        # eva ended and came back: active again, not counted
        s.execute(update(Subscription).where(Subscription.subscriber_id == ids["eva"])
                  .values(unsubscribed_at=sent_at + timedelta(hours=2)))
        got = health_counts(s, [news.id, invite.id])
        assert got[news.id].get("unsubscribed") == 1
        assert got[invite.id].get("unsubscribed") == 1
        assert health_counts(s, [invite.id])[invite.id].get("unsubscribed") == 1
        assert health_counts(s, []) == {}
    # The plans (SQLite keeps no statistics here, so they hold at any size): the ended
    # subscriptions by their partial index, then their people's rows by person.
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            def plan(sql: str) -> str:
                return " ".join(r[3] for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "ix_subscriptions_unsubscribed_at" in plan(
                "SELECT subscriber_id FROM subscriptions WHERE unsubscribed_at >= '2026-01-01' "
                "AND status = 'unsubscribed'")
            assert "ix_outbox_subscriber_id" in plan(
                "SELECT mailing_id FROM outbox WHERE subscriber_id IN (1, 2) "
                "AND mailing_id + 0 IN (1, 2)")
