"""The webhooks' counts without counting every delivery (migration 0023): "delivered" is
counted as the worker records each 2xx, "waiting" from the partial index of the waiting
deliveries; both stay what a full recount says, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import Engine, func, select, text

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.services import webhooks
from mailer.services.subscriptions import erase
from mailer.store import webhooks as store
from mailer.store.db import _alembic_config, make_engine, transaction, upgrade
from mailer.store.models import (
    DeliveryStatus,
    Subscriber,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
)
from tests.delivery_support import add_subscribers
from tests.query_plans import plan_of
from tests.webhook_receiver import Receiver


def recount(engine: Engine) -> dict[int, dict[str, int]]:
    """The rows as they are: per endpoint and status (what the pages counted before)."""
    with transaction(engine) as s:
        out: dict[int, dict[str, int]] = {}
        for eid, status, n in s.execute(
                select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
                .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status)):
            out.setdefault(eid, {})[str(DeliveryStatus(status))] = n
        return out


def shown(engine: Engine) -> dict[int, tuple[int, int]]:
    with transaction(engine) as s:
        return {ep.id: (ep.delivered, ep.pending) for ep in webhooks.endpoints(s)}


def test_delivered_is_counted_as_recorded_and_waiting_from_the_waiting_rows(
        engine: Engine, settings: Settings, receiver: Receiver) -> None:
    add_subscribers(engine, 3)
    with transaction(engine) as s:
        crm, _ = webhooks.add_endpoint(s, receiver.url, "bounce,complaint")
        off, _ = webhooks.add_endpoint(s, receiver.url, "bounce")
        webhooks.disable_endpoint(s, off.id)
        people = s.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        for p in people:
            webhooks.emit(s, "bounce", {"subscriber": webhooks.subscriber_payload(p)})
        webhooks.emit(s, "complaint", {"subscriber": webhooks.subscriber_payload(people[0])})
        anna = people[0].id
    assert shown(engine) == {crm.id: (0, 4), off.id: (0, 3)}
    deliver_due(engine, settings)
    # The enabled endpoint got its four; the disabled one keeps its three waiting.
    assert shown(engine) == {crm.id: (4, 0), off.id: (0, 3)}
    assert recount(engine) == {crm.id: {"delivered": 4}, off.id: {"pending": 3}}
    with transaction(engine) as s:
        assert webhooks.get_endpoint(s, off.id).pending == 3
        webhooks.enable_endpoint(s, off.id)
    deliver_due(engine, settings)
    assert shown(engine) == {crm.id: (4, 0), off.id: (3, 0)}
    # Erasing a person takes the events about them away; what was delivered was delivered.
    with transaction(engine) as s:
        assert erase(s, anna, source="test")
    assert recount(engine) == {crm.id: {"delivered": 2}, off.id: {"delivered": 2}}
    assert shown(engine) == {crm.id: (4, 0), off.id: (3, 0)}


def test_the_dashboard_reads_only_the_endpoints_switched_off_while_failing(
        engine: Engine) -> None:
    with transaction(engine) as s:
        failing, _ = webhooks.add_endpoint(s, "http://127.0.0.1:9/a", "bounce")
        by_hand, _ = webhooks.add_endpoint(s, "http://127.0.0.1:9/b", "bounce")
        webhooks.add_endpoint(s, "http://127.0.0.1:9/c", "bounce")
        webhooks.emit(s, "bounce", {"subscriber": {"id": 1}})
        webhooks.disable_endpoint(s, failing.id, reason="every attempt failed")
        webhooks.disable_endpoint(s, by_hand.id)
        ep = store.get_endpoint(s, failing.id)
        assert ep is not None
        ep.failing_since = datetime.now(UTC) - timedelta(days=6)
    with transaction(engine) as s:
        assert [(e.id, e.pending) for e in webhooks.switched_off(s)] == [(failing.id, 1)]


def test_waiting_is_counted_in_its_partial_index(engine: Engine) -> None:
    with transaction(engine) as s:
        plan = plan_of(s, store.pending_query(engine.dialect.name))
    assert "ix_webhook_deliveries_pending" in plan, plan


def test_the_migration_counts_the_deliveries_made_before_it(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        command.downgrade(_alembic_config(engine), "0022")
        at = datetime(2026, 1, 5, tzinfo=UTC)
        with engine.begin() as conn:
            for eid in (1, 2):
                conn.execute(text(
                    "INSERT INTO webhook_endpoints (id, url, secret, events, description, "
                    "enabled, disabled_reason, created_at) VALUES (:id, 'http://x/', 's', "
                    "'[]', '', true, '', :at)"), {"id": eid, "at": at})
            for i, (eid, status) in enumerate([(1, "delivered"), (1, "delivered"),
                                               (1, "pending"), (2, "pending")], 1):
                conn.execute(text(
                    "INSERT INTO webhook_events (id, event_id, type, payload, created_at) "
                    "VALUES (:i, :e, 'bounce', '{}', :at)"), {"i": i, "e": f"msg_{i}", "at": at})
                conn.execute(text(
                    "INSERT INTO webhook_deliveries (endpoint_id, event_id, ordering_key, "
                    "status, attempts, next_attempt_at, last_error, created_at) VALUES "
                    "(:ep, :i, '', :st, 1, :at, '', :at)"), {"ep": eid, "i": i, "st": status,
                                                             "at": at})
        upgrade(engine)
        assert shown(engine) == {1: (2, 1), 2: (0, 1)}
    finally:
        engine.dispose()


def _age(engine: Engine, endpoint_id: int, days: float) -> None:
    """Move an endpoint's deliveries (and when they were due and delivered) ``days`` back."""
    back = timedelta(days=days)
    with transaction(engine) as s:
        for d in s.scalars(select(WebhookDelivery).where(
                WebhookDelivery.endpoint_id == endpoint_id)):
            d.created_at -= back
            d.next_attempt_at -= back
            if d.delivered_at is not None:
                d.delivered_at -= back


def _left(engine: Engine) -> tuple[int, int, int]:
    """(events, deliveries, attempts) in the database."""
    with transaction(engine) as s:
        return (s.scalar(select(func.count()).select_from(WebhookEvent)) or 0,
                s.scalar(select(func.count()).select_from(WebhookDelivery)) or 0,
                s.scalar(select(func.count()).select_from(WebhookAttempt)) or 0)


def test_delivered_events_go_after_the_days_kept_and_the_counts_stay(
        engine: Engine, settings: Settings, receiver: Receiver) -> None:
    """MAILER_WEBHOOK_KEEP_DAYS: a worker deletes deliveries delivered longer ago, their
    attempts and the events no delivery needs any more; a delivery still waiting keeps
    its event however old; the counts shown do not move; 0 keeps everything."""
    add_subscribers(engine, 2)
    with transaction(engine) as s:
        crm, _ = webhooks.add_endpoint(s, receiver.url, "bounce")
        off, _ = webhooks.add_endpoint(s, receiver.url, "bounce")
        webhooks.disable_endpoint(s, off.id)
        for p in s.scalars(select(Subscriber).order_by(Subscriber.id)):
            webhooks.emit(s, "bounce", {"subscriber": webhooks.subscriber_payload(p)})
    deliver_due(engine, settings)
    assert _left(engine) == (2, 4, 2)  # two events, each for both endpoints; crm's 2 tries
    _age(engine, crm.id, settings.webhook_keep_days + 1)
    _age(engine, off.id, settings.webhook_keep_days + 1)  # waiting, old: kept
    forever = settings.model_copy(update={"webhook_keep_days": 0})
    deliver_due(engine, forever)
    assert _left(engine) == (2, 4, 2)
    deliver_due(engine, settings)
    # crm's two delivered deliveries and their attempts went; the events stay for `off`.
    assert _left(engine) == (2, 2, 0)
    assert recount(engine) == {off.id: {"pending": 2}}
    assert shown(engine) == {crm.id: (2, 0), off.id: (0, 2)}
    with transaction(engine) as s:
        webhooks.enable_endpoint(s, off.id)
    deliver_due(engine, settings)  # delivered now: kept for the days to come
    assert _left(engine) == (2, 2, 2)
    _age(engine, off.id, settings.webhook_keep_days + 1)
    deliver_due(engine, settings)
    assert _left(engine) == (0, 0, 0)
    assert shown(engine) == {crm.id: (2, 0), off.id: (2, 0)}
    assert len(receiver.received) == 4  # each event reached each endpoint once
