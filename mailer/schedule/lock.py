"""The single-scheduler lock: a lease row on SQLite, ``pg_try_advisory_lock`` on PostgreSQL."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session

from mailer.errors import MailerError
from mailer.store.models import Lock

LEASE_SECONDS = 30.0
# pg_try_advisory_lock takes a bigint; this one spells "mailschd" (fixed, documented).
PG_LOCK_KEY = 0x6D61696C73636864 & 0x7FFFFFFFFFFFFFFF
NAME = "scheduler"


def process_alive(host: str, pid: int, this_host: str) -> bool:
    """Whether a holder (lease, worker row) may still run: on this machine the process
    table is the truth; on another machine we cannot tell, so it counts as alive."""
    if host != this_host:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


class SchedulerBusy(MailerError):
    """Another worker runs the scheduler on this database."""


class SchedulerLock:
    """Held by the one worker that runs the scheduler; ``renew`` keeps a lease alive."""

    def __init__(self, engine: Engine, holder: str) -> None:
        self.engine = engine
        self.holder = holder
        self.host = socket.gethostname()
        self._pg: Connection | None = None

    def acquire(self) -> None:
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LOCK_KEY}).scalar()
            conn.commit()
            if not got:
                conn.close()
                raise SchedulerBusy(
                    "another worker runs the scheduler on this database (it holds PostgreSQL "
                    "advisory lock 'mailer scheduler'); stop it first, or run "
                    "'mailer worker --drain' here, which needs no scheduler")
            self._pg = conn  # the lock lives as long as this session: a crash frees it
            return
        now = datetime.now(UTC)
        with Session(self.engine) as s, s.begin():
            row = s.get(Lock, NAME)
            if row is not None and row.holder != self.holder and self._held(row, now):
                raise SchedulerBusy(
                    f"another worker runs the scheduler on this database: pid {row.pid} on "
                    f"{row.host}, since {row.acquired_at:%Y-%m-%d %H:%M:%S} UTC. Stop it "
                    "first; if it is gone, its lease expires at "
                    f"{row.expires_at:%H:%M:%S} UTC. ('mailer worker --drain' needs no "
                    "scheduler and may run beside it.)")
            if row is None:
                row = Lock(name=NAME, holder=self.holder, host=self.host, pid=os.getpid(),
                           acquired_at=now, expires_at=now)
                s.add(row)
            row.holder, row.host, row.pid, row.acquired_at = (self.holder, self.host,
                                                              os.getpid(), now)
            row.expires_at = now + timedelta(seconds=LEASE_SECONDS)

    def _held(self, row: Lock, now: datetime) -> bool:
        if row.expires_at <= now:
            return False
        # same machine: a dead pid frees the lease at once
        return process_alive(row.host, row.pid, self.host)

    def renew(self) -> None:
        if self._pg is not None:
            return
        now = datetime.now(UTC)
        with Session(self.engine) as s, s.begin():
            row = s.get(Lock, NAME)
            if row is None or row.holder != self.holder:
                raise SchedulerBusy("lost the scheduler lease to another worker; stopping")
            row.expires_at = now + timedelta(seconds=LEASE_SECONDS)

    def release(self) -> None:
        if self._pg is not None:
            self._pg.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
            self._pg.commit()
            self._pg.close()
            self._pg = None
            return
        with Session(self.engine) as s, s.begin():
            row = s.scalar(select(Lock).where(Lock.name == NAME, Lock.holder == self.holder))
            if row is not None:
                s.delete(row)
