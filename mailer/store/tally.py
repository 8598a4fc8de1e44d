"""Tallies kept by triggers (``outbox_tally``, ``subscription_tally``): folding the rows
PostgreSQL's statement triggers append into one row per key."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session


def fold(session: Session, table: Any, keys: tuple[str, ...], lock_key: int) -> None:
    """PostgreSQL: fold the rows of ``table`` (a tally model with the columns ``keys`` and
    ``n``) into one per key. A no-op on SQLite, whose triggers keep one row per key.

    One statement: the rows it deletes are the rows it sums, so a change committed
    meanwhile stays as a row of its own and nothing is counted twice or lost. Two
    processes do not fold one table at once (an advisory lock ``lock_key`` for the
    transaction; the second skips)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    if not session.scalar(select(func.pg_try_advisory_xact_lock(lock_key))):
        return
    first = getattr(table, keys[0])
    columns = [getattr(table, k) for k in keys]
    several = select(first).group_by(*columns).having(func.count() > 1)
    gone = (delete(table).where(first.in_(several))
            .returning(*columns, table.n).cte("gone"))
    kept = [gone.c[k] for k in keys]
    session.execute(insert(table).from_select(
        [*keys, "n"],
        select(*kept, func.sum(gone.c.n)).group_by(*kept).having(func.sum(gone.c.n) != 0)))
