"""The worker's claim walks only the rows it takes, whatever the size of the queue: its
statement's plan (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's EXPLAIN ANALYZE) walks the
claim index in order (no sort of the due rows), never reads the rows of a paused
mailing, and on SQLite its work (virtual-machine steps, not time) does not grow with the
number of queued rows. Also: the order (earliest due first, then oldest) and which
rows a claim leaves alone."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text, update

from mailer.store.db import transaction
from mailer.store.models import Mailing, MailingKind, MailingStatus, OutboxRow, OutboxStatus
from mailer.store.outbox import (
    PlannedRecipient,
    claim_batch,
    next_due,
    plan_explicit,
    plan_lists,
)
from tests.delivery_support import add_subscribers

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BATCH = 32


def _mailing(engine: Engine, rows: int, status: MailingStatus = MailingStatus.sending,
             at: datetime = NOW, name: str = "m",
             kind: MailingKind = MailingKind.newsletter) -> int:
    with transaction(engine) as s:
        m = Mailing(kind=kind, subject="x", html="", text="", status=status)
        s.add(m)
        s.flush()
        plan_explicit(s, m.id, [PlannedRecipient(f"{name}{i}@example.org")
                                for i in range(rows)], at)
        return m.id


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement the engine runs meanwhile, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def note(_conn: object, _cursor: object, statement: str, parameters: Any,
             _context: object, _many: bool) -> None:
        seen.append((statement, parameters))
    event.listen(engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


def _claim_statement(engine: Engine, statements: list[tuple[str, Any]]) -> tuple[str, Any]:
    """Claim a batch (rolled back) and return the statement that picked the rows."""
    statements.clear()
    with transaction(engine) as s:
        assert len(claim_batch(s, "w", BATCH, NOW + timedelta(seconds=1))) == BATCH
        s.rollback()
    picks = [(sql, p) for sql, p in statements if sql.lstrip().startswith("UPDATE outbox")
             and "LIMIT" in sql.upper()]
    assert len(picks) == 1, [sql for sql, _ in statements]
    return picks[0]


def test_the_claim_walks_the_claim_index_in_order(
        engine: Engine, statements: list[tuple[str, Any]]) -> None:
    sending = _mailing(engine, 3000)
    _mailing(engine, 2000, MailingStatus.paused, name="p")  # due, but not to be walked
    with transaction(engine) as s:  # some retries, due earlier than the queued rows
        s.execute(update(OutboxRow).where(OutboxRow.mailing_id == sending,
                                          OutboxRow.id % 7 == 0)
                  .values(status=OutboxStatus.retry, next_attempt_at=NOW - timedelta(1)))
    sql, params = _claim_statement(engine, statements)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
            # each walk is an index search on mailing, status and due time, in the index's
            # order: no temporary B-tree sorts the due rows (only the merge of the walks'
            # at most 2 x BATCH rows may be sorted, above them)
            walks = [p for p in plan if "ix_outbox_claim" in p]
            assert len(walks) == 2 and all(
                "(mailing_id=? AND status=? AND next_attempt_at<?)" in p for p in walks), plan
            assert not any(p.startswith("SCAN outbox") for p in plan), plan
            sorts = [i for i, p in enumerate(plan) if "TEMP B-TREE" in p]
            assert all(i > plan.index(walks[-1]) for i in sorts), plan
        else:
            conn.execute(text("ANALYZE outbox"))
            conn.commit()
            [[found]] = conn.exec_driver_sql(  # ANALYZE runs it: rolled back below
                f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).all()
            conn.rollback()
            plan = (found if isinstance(found, list) else json.loads(found))[0]["Plan"]
            # the pick (under its LIMIT): one walk per pending status of the sending
            # mailing, each stopped after the batch; nothing else reads outbox there
            # (how the UPDATE then finds those ids is the planner's choice by table
            # size: the primary key at scale, a scan of a table this small)
            [pick] = [n for n in _pg_nodes(plan) if n["Node Type"] == "Limit"][:1]
            scans = [n for n in _pg_nodes(pick) if n.get("Relation Name") == "outbox"]
            assert len(scans) == 2 and all(
                n.get("Index Name") == "ix_outbox_claim"
                and n["Actual Rows"] * n["Actual Loops"] <= BATCH for n in scans), scans


def _pg_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _pg_nodes(child))]


def _vm_steps(engine: Engine, sql: str, params: Any) -> int:
    """SQLite virtual-machine instructions the statement runs (counted, not timed)."""
    url = engine.url.database
    assert url is not None
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0
    db = sqlite3.connect(url, isolation_level=None)
    try:
        db.execute("BEGIN")
        db.set_progress_handler(count, 10)
        db.execute(sql, params).fetchall()
        db.set_progress_handler(None, 0)
        db.execute("ROLLBACK")
    finally:
        db.close()
    return steps * 10


# Counts SQLite's virtual-machine steps; on PostgreSQL the test above reads how many
# rows each walk returned.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_on_sqlite_the_claims_work_does_not_grow_with_the_queue(
        engine: Engine, statements: list[tuple[str, Any]]) -> None:
    small = _mailing(engine, 1000, name="a")
    small_cost = _vm_steps(engine, *_claim_statement(engine, statements))
    with transaction(engine) as s:
        s.execute(update(Mailing).where(Mailing.id == small)
                  .values(status=MailingStatus.done))
    _mailing(engine, 20_000, name="b")
    big_cost = _vm_steps(engine, *_claim_statement(engine, statements))
    # 20x the queued rows; sorting them all for each batch cost about 20x the work
    assert big_cost < 2 * small_cost, (small_cost, big_cost)


def test_earliest_due_first_then_oldest_and_only_sending_mailings(engine: Engine) -> None:
    first = _mailing(engine, 40, name="a")
    later = _mailing(engine, 40, at=NOW + timedelta(minutes=1), name="b")
    _mailing(engine, 40, MailingStatus.paused, at=NOW - timedelta(hours=1), name="p")
    a, b = _ids(engine, first), _ids(engine, later)
    with transaction(engine) as s:
        # a retry of the later mailing due before everything else, and one not due yet
        s.execute(update(OutboxRow).where(OutboxRow.id == b[20])
                  .values(status=OutboxStatus.retry, next_attempt_at=NOW - timedelta(1)))
        s.execute(update(OutboxRow).where(OutboxRow.id == a[31])
                  .values(status=OutboxStatus.retry, next_attempt_at=NOW + timedelta(1)))
        assert next_due(s) == NOW - timedelta(1)
    at = NOW + timedelta(minutes=5)
    with transaction(engine) as s:
        got = [c.id for c in claim_batch(s, "w", 45, at)]
    # the due retry, the first mailing in planning order (not its retry not due yet),
    # then the later mailing's first rows; never the paused one, though its rows are due
    assert got == sorted([*a[:31], *a[32:], b[20], *b[:5]])
    with transaction(engine) as s:
        rest = [c.id for c in claim_batch(s, "w", 100, at)]
        assert next_due(s) == NOW + timedelta(1)  # the retry not due yet; not the paused
    assert rest == [i for i in b[5:] if i != b[20]]


def test_a_confirmation_goes_before_a_big_mailings_queue(engine: Engine) -> None:
    """A sign-up's confirmation planned while a newsletter is being sent is claimed in
    the next batch, not after the newsletter's earlier-due copies."""
    big = _mailing(engine, 100, name="n")
    confirmation = _mailing(engine, 1, at=NOW + timedelta(minutes=1), name="c",
                            kind=MailingKind.confirmation)
    test = _mailing(engine, 1, at=NOW + timedelta(minutes=2), name="t", kind=MailingKind.test)
    at = NOW + timedelta(minutes=5)
    with transaction(engine) as s:
        got = [c.id for c in claim_batch(s, "w", 10, at)]
    # the batch (returned in id order): both one-off mails and the newsletter's first 8
    assert got == [*_ids(engine, big)[:8], *_ids(engine, confirmation), *_ids(engine, test)]


def _ids(engine: Engine, mailing_id: int) -> list[int]:
    with transaction(engine) as s:
        return list(s.scalars(select(OutboxRow.id).where(OutboxRow.mailing_id == mailing_id)
                              .order_by(OutboxRow.id)))


def test_consent_is_looked_up_by_the_subscription_key(
        engine: Engine, statements: list[tuple[str, Any]]) -> None:
    """The claimed rows' consent is read through the unique (subscriber, list) key, one
    entry per row; an EXISTS naming the status too let PostgreSQL without statistics (a
    fresh import) walk the (list, status) index to each subscriber: O(list) a row."""
    list_id = add_subscribers(engine, 3000)
    with transaction(engine) as s:
        m = Mailing(kind=MailingKind.newsletter, subject="x", html="", text="",
                    status=MailingStatus.sending)
        s.add(m)
        s.flush()
        plan_lists(s, m.id, [list_id], NOW)
    statements.clear()
    with transaction(engine) as s:
        assert len(claim_batch(s, "w", BATCH, NOW)) == BATCH
        s.rollback()
    [(sql, params)] = [(q, p) for q, p in statements
                       if q.startswith("SELECT outbox.id, outbox.mailing_id")]
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
            reads = [p for p in plan if "subscriptions" in p]
            assert reads and all("(subscriber_id=? AND list_id=?)" in p for p in reads), plan
        else:
            # A table this small is best read whole into a hash join; at scale (tens of
            # thousands of subscriptions) PostgreSQL probes an index per row: which index
            # it probes then is what this checks, so the probe is asked for here.
            for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
                conn.exec_driver_sql(f"SET LOCAL {setting} = off")
            [[found]] = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}", params).all()
            conn.rollback()
            plan = (found if isinstance(found, list) else json.loads(found))[0]["Plan"]
            reads = [n for n in _pg_nodes(plan) if n.get("Relation Name") == "subscriptions"]
            assert reads and all(n.get("Index Name") == "uq_subscriptions_subscriber_id_list_id"
                                 for n in reads), reads
