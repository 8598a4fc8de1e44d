"""The single-scheduler lock: a lease row on SQLite, ``pg_try_advisory_lock`` on PostgreSQL."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from mailer.errors import MailerError
from mailer.store import scheduler as store
from mailer.store.models import Lock
from mailer.store.workers import process_alive

log = logging.getLogger(__name__)

# A standby worker takes over within LEASE_SECONDS + STANDBY_SECONDS (under 10 s) when
# the holder is on another machine and stops renewing; on the same machine, or with
# PostgreSQL's advisory lock, as soon as the holder's process is gone.
LEASE_SECONDS = 7.0
RENEW_SECONDS = 1.5
STANDBY_SECONDS = 2.0
# pg_try_advisory_lock takes a bigint; this one spells "mailschd" (fixed, documented).
PG_LOCK_KEY = 0x6D61696C73636864 & 0x7FFFFFFFFFFFFFFF
NAME = "scheduler"


class SchedulerBusy(MailerError):
    """Another worker runs the scheduler on this database."""


class SchedulerLock:
    """Held by the one worker that runs the scheduler; ``renew`` keeps a lease alive.

    ``acquire``, ``renew`` and ``release`` may be called from different threads (the
    runner renews on its own beat, in a thread, and releases from another at a stop):
    they take turns, so a release never runs on the lock's connection while a renew is
    using it, and a renew that was already under way when a release came cannot put
    the lease back afterwards.
    """

    def __init__(self, engine: Engine, holder: str) -> None:
        self.engine = engine
        self.holder = holder
        self.host = socket.gethostname()
        self._pg: Connection | None = None
        self._turn = threading.Lock()

    def acquire(self) -> None:
        with self._turn:
            self._acquire()

    def _acquire(self) -> None:
        if self.engine.dialect.name == "postgresql":
            # The advisory lock belongs to the database session, and a pooled session
            # outlives its Connection (a rollback does not free the lock): taken on a
            # session of its own, detached from the pool, it ends when this connection
            # closes, whatever happened before (a failed unlock, an error half-way here).
            conn = self.engine.connect()
            try:
                conn.detach()
                if not store.try_advisory_lock(conn, PG_LOCK_KEY):
                    raise SchedulerBusy(
                        "another worker runs the scheduler on this database (it holds "
                        "PostgreSQL advisory lock 'mailer scheduler'); stop it first, or "
                        "run 'mailer worker --drain' here, which needs no scheduler")
                self._pg = conn  # the lock lives as long as this session: a crash frees it
                self._record()  # who holds it, for the health panel (the lock is PG's)
            except BaseException:
                self._pg = None
                with contextlib.suppress(Exception):
                    conn.close()
                raise
            return
        now = datetime.now(UTC)
        with Session(self.engine) as s, s.begin():
            row = store.lease(s, NAME)
            if row is not None and row.holder != self.holder and self._held(row, now):
                raise SchedulerBusy(
                    f"another worker runs the scheduler on this database: pid {row.pid} on "
                    f"{row.host}, since {row.acquired_at:%Y-%m-%d %H:%M:%S} UTC. Stop it "
                    "first; if it is gone, its lease expires at "
                    f"{row.expires_at:%H:%M:%S} UTC. ('mailer worker --drain' needs no "
                    "scheduler and may run beside it.)")
            if row is None:
                row = store.new_lease(s, Lock(name=NAME, holder=self.holder, host=self.host,
                                              pid=os.getpid(), acquired_at=now, expires_at=now))
            row.holder, row.host, row.pid, row.acquired_at = (self.holder, self.host,
                                                              os.getpid(), now)
            row.expires_at = now + timedelta(seconds=LEASE_SECONDS)

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False (no error) while another worker holds it."""
        try:
            self.acquire()
        except SchedulerBusy:
            return False
        return True

    def _record(self) -> None:
        now = datetime.now(UTC)
        with Session(self.engine) as s, s.begin():
            row = store.lease(s, NAME)
            if row is None:
                row = store.new_lease(s, Lock(name=NAME, holder=self.holder, host=self.host,
                                              pid=os.getpid(), acquired_at=now, expires_at=now))
            row.holder, row.host, row.pid, row.acquired_at = (self.holder, self.host,
                                                              os.getpid(), now)
            row.expires_at = now + timedelta(seconds=LEASE_SECONDS)

    def _held(self, row: Lock, now: datetime) -> bool:
        if row.expires_at <= now:
            return False
        # same machine: a dead pid frees the lease at once
        return process_alive(row.host, row.pid, self.host)

    def renew(self) -> None:
        with self._turn:
            self._renew()

    def _renew(self) -> None:
        if self.engine.dialect.name == "postgresql":
            if self._pg is None:  # released (or lost) meanwhile: nothing to keep alive
                raise SchedulerBusy("the scheduler lock is no longer held here")
            try:  # the advisory lock lives exactly as long as this connection
                self._pg.exec_driver_sql("SELECT 1")
                self._pg.commit()
            except Exception:
                conn, self._pg = self._pg, None
                with contextlib.suppress(Exception):
                    conn.close()
                raise SchedulerBusy("lost the connection that held the scheduler lock; "
                                    "another worker may run the scheduler now") from None
            self._record()
            return
        now = datetime.now(UTC)
        with Session(self.engine) as s, s.begin():
            row = store.lease(s, NAME)
            if row is None or row.holder != self.holder:
                raise SchedulerBusy("lost the scheduler lease to another worker; stopping")
            row.expires_at = now + timedelta(seconds=LEASE_SECONDS)

    def release(self) -> None:
        """Give the lock up; harmless when it is not held (or was lost)."""
        with self._turn:
            conn, self._pg = self._pg, None
            if conn is not None:
                try:
                    store.advisory_unlock(conn, PG_LOCK_KEY)
                except Exception as exc:  # the connection broke: its session ends below
                    log.warning("could not unlock the scheduler lock (%s); closing its "
                                "connection frees it", exc)
                finally:  # ends the session, and with it the lock, unlock or not
                    conn.close()
            with Session(self.engine) as s, s.begin():
                store.drop_lease(s, NAME, self.holder)
