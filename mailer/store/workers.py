"""Worker rows and their heartbeats, and whether a holder (worker row, lease) still runs."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from mailer.store.models import Worker

STALE_SECONDS = 60.0  # a worker on another host is dead after this long without a beat


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


def is_alive(row: Worker | None, now: datetime, this_host: str) -> bool:
    """A worker row is alive while it beats and (on this host) its process exists."""
    if row is None or now - row.heartbeat_at > timedelta(seconds=STALE_SECONDS):
        return False
    return process_alive(row.host, row.pid, this_host)


def register(session: Session, worker_id: str, *, host: str, pid: int, role: str,
             now: datetime) -> None:
    session.add(Worker(id=worker_id, host=host, pid=pid, role=role, started_at=now,
                       heartbeat_at=now))
    session.flush()


def get(session: Session, worker_id: str) -> Worker | None:
    return session.get(Worker, worker_id)


def heartbeat(session: Session, worker_id: str, now: datetime) -> None:
    session.execute(update(Worker).where(Worker.id == worker_id).values(heartbeat_at=now))


def set_role(session: Session, worker_id: str, role: str) -> None:
    """A worker's role changed (standby → scheduler and back)."""
    session.execute(update(Worker).where(Worker.id == worker_id).values(role=role))


def remove(session: Session, worker_ids: Sequence[str]) -> None:
    if worker_ids:
        session.execute(delete(Worker).where(Worker.id.in_(worker_ids)))


def latest(session: Session, limit: int = 20) -> list[Worker]:
    """Worker rows, the latest heartbeat first."""
    return list(session.scalars(select(Worker).order_by(Worker.heartbeat_at.desc())
                                .limit(limit)))


def any_alive(session: Session, now: datetime, this_host: str, *,
              except_roles: Collection[str] = ()) -> bool:
    """Whether a live worker (of a role not in ``except_roles``) runs on this database."""
    q = select(Worker).where(Worker.heartbeat_at >= now - timedelta(seconds=STALE_SECONDS))
    if except_roles:
        q = q.where(Worker.role.not_in(list(except_roles)))
    return any(is_alive(w, now, this_host) for w in session.scalars(q))
