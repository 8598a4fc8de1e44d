"""Scheduling: a running worker sends on time; past-due mailings are sent or missed."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, text, update

from mailer.config import Settings
from mailer.delivery.worker import deliver_due
from mailer.schedule.lock import NAME, PG_LOCK_KEY, SchedulerBusy, SchedulerLock
from mailer.schedule.runner import run_worker
from mailer.services.mailings import PlannedRecipient, plan_mailing, progress
from mailer.store import scheduler as scheduler_store
from mailer.store.db import make_engine, transaction
from mailer.store.models import Mailing
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.smtp_server import SmtpServer


def _plan(engine: Engine, at: datetime, n: int = 5) -> int:
    people = [PlannedRecipient(f"p{i}@example.se", f"P {i}") for i in range(n)]
    with transaction(engine) as s:
        m, _ = plan_mailing(s, synthetic_rendered(4000), kind="newsletter",
                            now=datetime.now(UTC), recipients=people, at=at)
        return m.id


def _status(engine: Engine, mid: int) -> tuple[str, str]:
    with transaction(engine) as s:
        p = progress(s, [mid])[0]
        return p.status, p.note


def test_mailing_scheduled_two_seconds_ahead_is_sent_by_running_worker(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    add_subscribers(engine, 10)

    async def scenario() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(run_worker(engine, settings, stop=stop))
        await asyncio.sleep(0.5)  # the worker is up before the mailing exists
        at = datetime.now(UTC) + timedelta(seconds=2)
        with transaction(engine) as s:
            m, _ = plan_mailing(s, synthetic_rendered(4000), kind="newsletter",
                                now=datetime.now(UTC), list_slugs=["medborgardialog"], at=at)
        # a subscriber who joins before the time is included at start (re-planned)
        assert smtp_server.received == []
        deadline = time.monotonic() + 60  # a bound for a loaded machine
        while len(smtp_server.received) < 10:
            assert time.monotonic() < deadline, "scheduled mailing not sent"
            assert not task.done(), task
            await asyncio.sleep(0.05)
        first = datetime.now(UTC)
        stop.set()
        await task
        assert _status(engine, m.id)[0] in ("done", "sending")
        return (first - at).total_seconds()

    late = asyncio.run(scenario())
    # Not before its time, and promptly after: the scheduler looks for new jobs every
    # second; the bound leaves room for a loaded machine, far below a minute's poll.
    assert -0.05 < late < 20, late


@pytest.mark.parametrize("late_seconds,expect", [(30, "done"), (7200, "missed")])
def test_past_due_mailing_sent_within_grace_else_missed(
        engine: Engine, settings: Settings, smtp_server: SmtpServer,
        late_seconds: int, expect: str) -> None:
    mid = _plan(engine, datetime.now(UTC) + timedelta(hours=1))
    with transaction(engine) as s:  # as if no worker ran while its time came and went
        s.execute(update(Mailing).where(Mailing.id == mid).values(
            scheduled_at=datetime.now(UTC) - timedelta(seconds=late_seconds)))
    report = deliver_due(engine, settings.model_copy(update={"misfire_grace_seconds": 3600}))
    status, note = _status(engine, mid)
    assert status == expect
    if expect == "missed":
        assert report.missed == [mid] and report.sent == 0
        assert "missed" in note and "grace 3600 s" in note
        assert smtp_server.received == []
    else:
        assert report.started == [mid] and report.sent == 5


def test_a_missed_mailings_note_names_its_time_in_the_workspaces_zone(
        engine: Engine, settings: Settings, smtp_server: SmtpServer) -> None:
    """The editor planned it for 08:00 local time: the note says 08:00, not 06:00 UTC."""
    mid = _plan(engine, datetime.now(UTC) + timedelta(hours=1))
    with transaction(engine) as s:  # its time came and went with no worker running
        s.execute(update(Mailing).where(Mailing.id == mid).values(
            scheduled_at=datetime(2020, 6, 1, 6, 0, tzinfo=UTC)))
    assert settings.timezone == "Europe/Stockholm"
    deliver_due(engine, settings.model_copy(update={"misfire_grace_seconds": 3600}))
    status, note = _status(engine, mid)
    assert status == "missed"
    assert note.startswith("missed: due 2020-06-01 08:00 (Europe/Stockholm), no worker"), note
    assert "UTC" not in note


def test_second_scheduler_refuses(engine: Engine) -> None:
    a, b = SchedulerLock(engine, "worker-a"), SchedulerLock(engine, "worker-b")
    a.acquire()
    try:
        with pytest.raises(SchedulerBusy, match="another worker runs the scheduler"):
            b.acquire()
    finally:
        a.release()
    b.acquire()  # free again once released
    b.release()


@pytest.mark.filterwarnings("error::sqlalchemy.exc.SAWarning")
def test_a_release_waits_for_a_renew_under_way_and_leaves_nothing_held(engine: Engine) -> None:
    """The runner renews in a thread and releases from another at a stop; a release
    coming while a renew is half-way must neither share the lock's connection with it
    (SQLAlchemy: "transaction already deassociated from connection") nor let it write
    the lease back after the release."""
    lock = SchedulerLock(engine, "worker-a")
    lock.acquire()
    inside, renewing = threading.Event(), threading.Thread(target=lambda: None)
    problems: list[BaseException] = []

    def pause(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if threading.current_thread() is renewing and "locks" in statement \
                and not inside.is_set():
            inside.set()
            time.sleep(0.5)  # the release comes now

    def renew() -> None:
        try:
            lock.renew()
        except BaseException as exc:
            problems.append(exc)

    event.listen(engine, "before_cursor_execute", pause)
    try:
        renewing = threading.Thread(target=renew)
        renewing.start()
        assert inside.wait(10)
        lock.release()
        renewing.join(10)
    finally:
        event.remove(engine, "before_cursor_execute", pause)
    assert problems == []  # the renew finished before the release began
    with transaction(engine) as s:
        assert scheduler_store.lease(s, NAME) is None
    other = SchedulerLock(engine, "worker-b")
    other.acquire()  # free at once
    other.release()
    with pytest.raises(SchedulerBusy):
        lock.renew()  # a renew after the release keeps nothing alive


def test_the_advisory_lock_ends_with_a_session_of_its_own(pg_url: str) -> None:
    """PostgreSQL keeps a session's advisory lock until that session ends; a pooled
    session outlives its connection's close. The lock's session ends at release, so
    no pooled connection can carry the lock on after a failed unlock."""
    engine = make_engine(pg_url)
    # This database's only: the suite's other process has a database of its own on the
    # same server, where a worker may hold the same key at the same moment.
    holders = text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' "
                   "AND database = (SELECT oid FROM pg_database "
                   "WHERE datname = current_database()) "
                   "AND ((classid::bigint << 32) | objid::bigint) = :key")
    alive = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
    lock = SchedulerLock(engine, "worker-a")
    try:
        lock.acquire()
        with engine.connect() as conn:
            (pid,) = conn.execute(holders, {"key": PG_LOCK_KEY}).scalars().all()
        lock.release()
        with engine.connect() as conn:
            assert conn.execute(holders, {"key": PG_LOCK_KEY}).scalars().all() == []
            assert conn.execute(alive, {"pid": pid}).scalar() == 0  # its session is gone
    finally:
        lock.release()
        engine.dispose()


def test_pause_resume_cancel(engine: Engine, settings: Settings,
                             smtp_server: SmtpServer) -> None:
    from mailer.services.mailings import cancel, pause, resume

    mid = _plan(engine, datetime.now(UTC) + timedelta(hours=1))
    now = datetime.now(UTC)
    with transaction(engine) as s:
        assert pause(s, mid, now).status == "paused"
    with transaction(engine) as s:
        assert resume(s, mid, now).status == "scheduled"  # its time has not come
    with transaction(engine) as s:
        m, skipped = cancel(s, mid, now)
    assert m.status == "cancelled" and skipped == 5
    assert deliver_due(engine, settings).sent == 0
    assert smtp_server.received == []
