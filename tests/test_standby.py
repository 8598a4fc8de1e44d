"""Standby scheduler: three ``mailer worker`` processes share the outbox; one runs the
scheduler, the others wait for its lock while delivering. SIGKILL the leader and one
other mid-mailing: the last one takes over the scheduler within 10 s, starts a scheduled
mailing, finishes the rest, and every recipient arrives exactly once at the SMTP server
apart from the messages in flight at the kill (rows claimed twice)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from mailer.config import Settings
from mailer.services.mailings import PlannedRecipient, plan_mailing
from mailer.store.db import transaction
from mailer.store.models import Mailing, OutboxRow, OutboxStatus
from tests.conftest import TEST_SECRET
from tests.delivery_support import add_subscribers, synthetic_rendered
from tests.smtp_server import SmtpServer

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = 600


class Proc:
    """A worker process whose output lines are collected as they come."""

    def __init__(self, env: dict[str, str]) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", "mailer", "worker"], env=env,
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    def said(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def kill(self) -> None:
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)  # reaped: its pid is gone, as after a real crash

    def stop(self) -> str:
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(30)
        self.reader.join(5)
        return "\n".join(self.lines)


def wait_until(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Poll ``check`` until it holds; how long that took (fails after ``timeout``)."""
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - t0


@pytest.fixture
def workers_env(settings: Settings, smtp_server: SmtpServer) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(MAILER_WORKSPACE=str(settings.workspace), MAILER_DATABASE_URL=settings.db_url,
               MAILER_SMTP_URL=smtp_server.url, MAILER_SECRET_KEY=TEST_SECRET,
               MAILER_SMTP_CONNECTIONS="2", PYTHONUNBUFFERED="1")
    yield env


def _open_rows(engine: Engine) -> int:
    with transaction(engine) as s:
        return s.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.status.in_([OutboxStatus.queued, OutboxStatus.retry,
                                  OutboxStatus.sending]))) or 0


def test_three_workers_lose_two_to_sigkill_and_the_last_takes_over(
        engine: Engine, settings: Settings, smtp_server: SmtpServer,
        workers_env: dict[str, str]) -> None:
    add_subscribers(engine, PEOPLE)
    # 10 ms per message at the server: the kill finds messages in flight.
    smtp_server.handler.fault = lambda envelope: ("stall", 0.01)
    procs = [Proc(workers_env) for _ in range(3)]
    try:
        try:
            t_start = wait_until("three workers, one scheduler and two in standby", lambda: (
                sum(p.said(": runs the scheduler") for p in procs) == 1
                and sum(p.said("standby") for p in procs) == 2), 60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {[p.lines for p in procs]}") from None
        leader = next(p for p in procs if p.said(": runs the scheduler"))
        standby = [p for p in procs if p is not leader]
        with transaction(engine) as s:
            m, planned = plan_mailing(s, synthetic_rendered(4000), kind="newsletter",
                                      now=datetime.now(UTC), list_slugs=["medborgardialog"])
            mailing_id = m.id
        assert planned == PEOPLE
        t_up = wait_until("the first 150 messages", lambda: len(smtp_server.received) >= 150, 60)
        # All three were delivering: the standby workers do not just wait.
        leader.kill()
        standby[0].kill()
        killed_at = time.monotonic()
        survivor = standby[1]
        with transaction(engine) as s:  # only a scheduler starts this one
            later, _ = plan_mailing(s, synthetic_rendered(2000), kind="newsletter",
                                    now=datetime.now(UTC), at=datetime.now(UTC)
                                    + timedelta(seconds=3),
                                    recipients=[PlannedRecipient("scheduled@example.org")])
            later_id = later.id
        wait_until("the takeover", lambda: survivor.said(": runs the scheduler"), 10)
        took = time.monotonic() - killed_at
        assert took < 10, took
        t_rest = wait_until("every message", lambda: _open_rows(engine) == 0
                   and len(smtp_server.received) >= PEOPLE + 1, 60)
        out = survivor.stop()
    finally:
        for p in procs:
            if p.p.poll() is None:
                p.p.kill()
                p.p.wait(10)

    got = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    expected = {f"person{i}@example.test" for i in range(PEOPLE)} | {"scheduled@example.org"}
    assert set(got) == expected  # everyone, and no one else
    twice = {addr for addr, n in got.items() if n > 1}
    assert all(n <= 2 for n in got.values())
    with transaction(engine) as s:
        statuses = dict(s.execute(select(OutboxRow.status, func.count())
                                  .group_by(OutboxRow.status)).all())
        reclaimed = set(s.scalars(select(OutboxRow.email).where(OutboxRow.attempts > 1)))
        done = dict(s.execute(select(Mailing.id, Mailing.status)).all())
    assert statuses == {OutboxStatus.sent: PEOPLE + 1}
    assert done == {mailing_id: "done", later_id: "done"}
    # Only messages that were in flight at the kill (claimed again afterwards) came twice.
    assert twice <= reclaimed, twice - reclaimed
    assert "re-sent" in out or not twice
    print(f"start {t_start:.1f} s, first {t_up:.1f} s, rest {t_rest:.1f} s; "
          f"takeover {took:.1f} s; {len(twice)} in flight at the kill arrived twice; "
          f"{len(reclaimed)} rows claimed again")


def test_sqlite_lease_of_a_worker_on_another_machine_ends_when_it_stops_renewing(
        tmp_path: Path, sqlite_template: Path) -> None:
    import shutil

    from mailer.schedule.lock import LEASE_SECONDS, NAME, STANDBY_SECONDS, SchedulerLock
    from mailer.store.db import make_engine
    from mailer.store.models import Lock

    path = tmp_path / "lease.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    now = datetime.now(UTC)
    with transaction(engine) as s:  # a holder we cannot see: only its lease tells
        s.add(Lock(name=NAME, holder="far:1:abc", host="far-away-host", pid=1,
                   acquired_at=now, expires_at=now + timedelta(seconds=LEASE_SECONDS)))
    here = SchedulerLock(engine, "here:2:def")
    assert not here.try_acquire()
    with transaction(engine) as s:  # it stopped renewing LEASE_SECONDS ago
        lease = s.get(Lock, NAME)
        assert lease is not None
        lease.expires_at = now - timedelta(seconds=0.1)
    assert here.try_acquire()
    assert LEASE_SECONDS + STANDBY_SECONDS < 10  # the takeover promise
    with transaction(engine) as s:
        lease = s.get(Lock, NAME)
        assert lease is not None and lease.holder == "here:2:def"
    here.release()
    engine.dispose()
