"""The scheduler's rows: its lease (SQLite), advisory lock (PostgreSQL), and APScheduler's jobs.

APScheduler's ``SQLAlchemyJobStore`` owns the ``apscheduler_jobs`` table (created when a
worker first starts); ``next_jobs`` only reads it, for the admin's health panel.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Connection, Float, MetaData, String, Table, func, inspect, select
from sqlalchemy.orm import Session

from mailer.store.models import Lock

_jobs = Table("apscheduler_jobs", MetaData(), Column("id", String(191), primary_key=True),
              Column("next_run_time", Float))


def try_advisory_lock(conn: Connection, key: int) -> bool:
    """``pg_try_advisory_lock``: held as long as ``conn``'s session lives (or until
    ``advisory_unlock``); a pooled ``conn`` would keep it past its ``close``, so the
    caller holds it on a connection of its own, used by one thread at a time."""
    got = conn.execute(select(func.pg_try_advisory_lock(key))).scalar()
    conn.commit()
    return bool(got)


def advisory_unlock(conn: Connection, key: int) -> None:
    """``pg_advisory_unlock`` on the session that took the lock."""
    conn.execute(select(func.pg_advisory_unlock(key)))
    conn.commit()


def lease(session: Session, name: str) -> Lock | None:
    return session.get(Lock, name)


def new_lease(session: Session, lock: Lock) -> Lock:
    session.add(lock)
    return lock


def drop_lease(session: Session, name: str, holder: str) -> None:
    """Remove the lease if ``holder`` still holds it."""
    row = session.scalar(select(Lock).where(Lock.name == name, Lock.holder == holder))
    if row is not None:
        session.delete(row)


def next_jobs(session: Session, limit: int = 10) -> list[tuple[str, datetime | None]]:
    """APScheduler's next jobs (id, next run time), soonest first; none before its table."""
    if _jobs.name not in inspect(session.connection()).get_table_names():
        return []
    return [(job_id, datetime.fromtimestamp(when, UTC) if when is not None else None)
            for job_id, when in session.execute(
                select(_jobs.c.id, _jobs.c.next_run_time)
                .order_by(_jobs.c.next_run_time).limit(limit))]
