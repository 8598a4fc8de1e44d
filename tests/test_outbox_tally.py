"""The progress tally (``outbox_tally``, migration 0016): after every kind of change the
outbox goes through, ``outbox.counts`` says what counting the rows says, on SQLite and
PostgreSQL, inside the changing transaction and after it; several writers at once on
PostgreSQL, with the tally folded meanwhile; and the migration counts the rows already
there."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from mailer.services.lists import create_list
from mailer.store.db import make_engine, reading, transaction, upgrade
from mailer.store.models import (
    Mailing,
    MailingKind,
    MailingStatus,
    OutboxRow,
    OutboxStatus,
    OutboxTally,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from mailer.store.models.delivery import TIMED
from mailer.store.outbox import (
    PlannedRecipient,
    Record,
    claim_batch,
    compact_tally,
    counts,
    defer,
    expire_overdue,
    last_delivery,
    outcome_seconds,
    plan_explicit,
    plan_lists,
    record_outcomes,
    release_claims,
    requeue_claims,
    settle_from_journal,
    skip_pending,
)
from mailer.store.subscribers import erase_subscriber

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def _rows(s: Session) -> dict[int, dict[str, int]]:
    """Rows per mailing and status, counted from the outbox itself."""
    out: dict[int, dict[str, int]] = {}
    for mid, status, n in s.execute(select(OutboxRow.mailing_id, OutboxRow.status, func.count())
                                    .group_by(OutboxRow.mailing_id, OutboxRow.status)):
        out.setdefault(mid, {})[str(status)] = n
    return out


def _seconds(s: Session) -> dict[int, list[tuple[OutboxStatus, datetime, int]]]:
    """Rows per mailing, timed state and second of their outcome, from the outbox itself."""
    seen: Counter[tuple[int, datetime, OutboxStatus]] = Counter(
        (row.mailing_id, (row.sent_at or row.updated_at).replace(microsecond=0), row.status)
        for row in s.scalars(select(OutboxRow).where(OutboxRow.status.in_(TIMED))))
    out: dict[int, list[tuple[OutboxStatus, datetime, int]]] = {}
    for (mid, at, status), n in sorted(seen.items()):
        out.setdefault(mid, []).append((status, at, n))
    return out


def _same(s: Session) -> dict[int, dict[str, int]]:
    """The tally's counts, checked against the rows', and so are its seconds of outcomes
    and the last delivery."""
    got = counts(s)
    assert got == _rows(s)
    seconds = _seconds(s)
    assert {mid: outcome_seconds(s, mid) for mid in got} == {
        mid: seconds.get(mid, []) for mid in got}
    delivered = [at for rows in seconds.values() for st, at, _ in rows
                 if st is not OutboxStatus.skipped]
    assert last_delivery(s) == max(delivered, default=None)
    return got


def _people(s: Session, list_id: int, n: int, prefix: str = "p") -> list[int]:
    ids = []
    for i in range(n):
        person = Subscriber(email=f"{prefix}{i}@example.org", email_key=f"{prefix}{i}@example.org")
        s.add(person)
        s.flush()
        s.add(Subscription(subscriber_id=person.id, list_id=list_id,
                           status=SubscriptionStatus.active))
        ids.append(person.id)
    s.flush()
    return ids


def _mailing(s: Session, kind: MailingKind = MailingKind.newsletter, **kw: object) -> int:
    m = Mailing(kind=kind, subject="x", html="", text="", status=MailingStatus.sending, **kw)
    s.add(m)
    s.flush()
    return m.id


def test_tally_follows_every_change_of_the_outbox(engine: Engine) -> None:
    with transaction(engine) as s:
        a = create_list(s, "a", "A").id
        people = _people(s, a, 30)
        news = _mailing(s)
        assert plan_lists(s, news, [a], NOW, fresh=True) == 30
        assert plan_lists(s, news, [a], NOW) == 0  # ON CONFLICT: nothing added, nothing counted
        test = _mailing(s, MailingKind.test)
        assert plan_explicit(s, test, [PlannedRecipient("x@example.org"),
                                       PlannedRecipient("X@example.org"),  # the same, once
                                       PlannedRecipient("y@example.org")], NOW) == 2
        assert _same(s) == {news: {"queued": 30}, test: {"queued": 2}}
    with reading(engine) as s:
        assert _same(s) == {news: {"queued": 30}, test: {"queued": 2}}

    later = NOW + timedelta(minutes=1)
    with transaction(engine) as s:
        claimed = claim_batch(s, "w1", 12, later)
        assert len(claimed) == 12
        _same(s)
        ids = [c.id for c in claimed if c.mailing_id == news]
        # no copy sent in the first write (no sent_at in any row of the statement)
        outcomes = [OutboxStatus.failed, OutboxStatus.unknown, OutboxStatus.retry]
        record_outcomes(s, "w1", [
            Record(i, st, "550 no", f"<{i}@x>", later + timedelta(minutes=5), None)
            for i, st in zip(ids, outcomes, strict=False)], later)
        # sent in three different seconds, one at a second's very start
        record_outcomes(s, "w1", [
            Record(i, OutboxStatus.sent, "250 ok", f"<{i}@x>", later,
                   later + timedelta(seconds=k // 2, microseconds=k * 300_000))
            for k, i in enumerate(ids[3:8])], later)
        # a worker that lost its claims writes nothing
        record_outcomes(s, "w-lost", [Record(ids[-1], OutboxStatus.sent, "250", "", later,
                                             later)], later)
        _same(s)
        # the rest of w1's claim: given back, then one settled from a journal
        left = [c.id for c in claimed if c.id not in ids[:8]]
        assert release_claims(s, "w1", left[:2], later, later) == 2
        assert settle_from_journal(s, "w1", {left[2]: "sent", left[3]: "failed"}, later)
        _same(s)
    with transaction(engine) as s:
        # planned again after two more people joined: only they are added, and counted
        _people(s, a, 2, prefix="new")
        assert plan_lists(s, news, [a], later) == 2
        _same(s)
        claim_batch(s, "w2", 5, later)
        assert requeue_claims(s, ["w2"], later, "the worker died", max_attempts=1) == 0
        _same(s)
        claim_batch(s, "w3", 5, later)
        assert requeue_claims(s, ["w3"], later, "the worker died") >= 1
        _same(s)
        assert defer(s, news, later + timedelta(hours=1), later) > 0  # no status changes
        _same(s)
        # consent withdrawn and an erasure: skipped at the claim, rows deleted
        s.execute(update(Subscription).where(Subscription.subscriber_id == people[-1])
                  .values(status=SubscriptionStatus.unsubscribed))
        person = s.get(Subscriber, people[-2])
        assert person is not None
        erase_subscriber(s, person)
        _same(s)
        claim_batch(s, "w4", 40, later + timedelta(hours=2))
        _same(s)
        s.execute(update(Mailing).where(Mailing.id == test)
                  .values(expires_at=later - timedelta(seconds=1)))
        expire_overdue(s, later)
        skip_pending(s, news, later, "cancelled")
        got = _same(s)
    with reading(engine) as s:
        assert _same(s) == got
    total = sum(got[news].values())
    assert total == 31  # 32 planned; the erased person's row is gone
    assert sum(c.get("sent", 0) for c in got.values()) == 6  # 5 recorded, 1 from a journal
    with transaction(engine) as s:
        compact_tally(s)
        assert _same(s) == got
        # one row per mailing, status and second once folded (SQLite: always)
        assert s.scalar(select(func.count()).select_from(OutboxTally)) == s.scalar(
            select(func.count()).select_from(
                select(OutboxTally.mailing_id, OutboxTally.status, OutboxTally.at)
                .distinct().subquery()))
        assert counts(s, [test]) == {test: got[test]}


def test_a_rolled_back_change_leaves_the_tally_as_it_was(engine: Engine) -> None:
    with transaction(engine) as s:
        a = create_list(s, "a", "A").id
        _people(s, a, 5)
        news = _mailing(s)
        plan_lists(s, news, [a], NOW, fresh=True)

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction(engine) as s:
        claim_batch(s, "w1", 3, NOW)
        assert counts(s) == {news: {"queued": 2, "sending": 3}}
        raise Undo
    with reading(engine) as s:
        assert _same(s) == {news: {"queued": 5}}


@pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                         indirect=True)
def test_postgresql_writers_at_once_and_folding_meanwhile(engine: Engine) -> None:
    """Four workers claim and record at once while the tally is folded again and
    again: every change is counted once, and folding leaves one row per status."""
    with transaction(engine) as s:
        a = create_list(s, "a", "A").id
        _people(s, a, 400)
        news = _mailing(s)
        plan_lists(s, news, [a], NOW, fresh=True)
    errors: list[BaseException] = []
    stop = threading.Event()

    def work(worker: str) -> None:
        try:
            while True:
                with transaction(engine) as s:
                    claimed = claim_batch(s, worker, 7, NOW)
                if not claimed:
                    return
                with transaction(engine) as s:
                    record_outcomes(s, worker, [
                        Record(c.id, OutboxStatus.sent if c.id % 5 else OutboxStatus.retry,
                               "250", "", NOW + timedelta(days=1), NOW) for c in claimed], NOW)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def fold() -> None:
        try:
            while not stop.is_set():
                with transaction(engine) as s:
                    compact_tally(s)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    folder = threading.Thread(target=fold)
    folder.start()
    workers = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    folder.join()
    assert errors == []
    with transaction(engine) as s:
        assert _same(s) == {news: {"sent": 320, "retry": 80}}
        compact_tally(s)
    with reading(engine) as s:
        assert _same(s) == {news: {"sent": 320, "retry": 80}}
        assert s.scalar(select(func.count()).select_from(OutboxTally)) == 2


def _migrate_with_rows(engine: Engine) -> None:
    upgrade(engine, "0015")  # the outbox and mailings tables are as at the head
    with transaction(engine) as s:
        s.add(Mailing(id=7, kind=MailingKind.newsletter, subject="x", html="", text="",
                      status=MailingStatus.sending))
        s.add_all(OutboxRow(mailing_id=7, email=f"m{i}@example.org",
                            email_key=f"m{i}@example.org", status=status, next_attempt_at=NOW,
                            # two sent in one second, one in the next; the failed one later
                            sent_at=(NOW + timedelta(milliseconds=400 * i)
                                     if status is OutboxStatus.sent else None),
                            updated_at=NOW + timedelta(minutes=i))
                  for i, status in enumerate([OutboxStatus.sent, OutboxStatus.sent,
                                              OutboxStatus.queued, OutboxStatus.failed,
                                              OutboxStatus.sent]))
    upgrade(engine, "0016")
    with reading(engine) as s:  # 0016 counted them per status
        assert counts(s) == {7: {"sent": 3, "queued": 1, "failed": 1}}
    upgrade(engine)  # 0017 counts them per second too (``_same``)


def test_the_migration_counts_the_rows_already_there(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    _migrate_with_rows(engine)
    with reading(engine) as s:
        assert _same(s) == {7: {"sent": 3, "queued": 1, "failed": 1}}
    engine.dispose()


def test_the_migration_counts_the_rows_already_there_on_postgresql(pg_url: str) -> None:
    from tests.conftest import empty_pg_database

    with empty_pg_database(pg_url, "mailer_tally") as engine:
        _migrate_with_rows(engine)
        with reading(engine) as s:
            assert _same(s) == {7: {"sent": 3, "queued": 1, "failed": 1}}
