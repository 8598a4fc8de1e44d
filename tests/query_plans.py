"""The plan a database makes for a statement, to check which index serves it."""

from __future__ import annotations

from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement


def plan_of(session: Session, statement: ClauseElement) -> str:
    """SQLite's EXPLAIN QUERY PLAN or PostgreSQL's EXPLAIN of ``statement`` (its values
    written in), as one string. PostgreSQL is told not to read whole tables: with the few
    rows of a test it would rather, whatever the indexes."""
    sql = str(statement.compile(session.get_bind(),
                                compile_kwargs={"literal_binds": True}))
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        return " ".join(str(row) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return " ".join(str(row) for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
