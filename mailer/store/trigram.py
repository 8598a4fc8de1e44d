"""Trigram indexes for the subscribers search on PostgreSQL (``pg_trgm``), where they can be.

The search (``store.search``) matches ``LIKE '%text%'`` on the address, the lower-cased
name and the organisation's name: no B-tree index serves a match in the middle of a
value, so without these every search reads every subscriber (README, Admin pages at a
million). A GIN index of trigrams serves such a ``LIKE`` (with ``ESCAPE``) when the text
has at least three characters; the rows it finds are checked against the pattern again,
so the results are the same with or without the indexes. The expressions here are the
ones the query matches: an index on ``name`` would not serve ``lower(name) LIKE …``.

``pg_trgm`` ships with PostgreSQL (the contrib package) and is a trusted extension since
PostgreSQL 13: the database's owner may create it. Where it cannot be created (not
installed, no privilege) the migration goes on without the indexes (``create`` returns
False and logs why) and the search reads every subscriber as before; ``mailer doctor``
says so (``missing``). SQLite has none of this.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

EXTENSION = "pg_trgm"

#: index name: (table, the expression the search matches)
INDEXES = {
    "ix_subscribers_email_key_trgm": ("subscribers", "email_key"),
    "ix_subscribers_name_trgm": ("subscribers", "lower(name)"),
    "ix_organisations_name_key_trgm": ("organisations", "name_key"),
}

#: What an operator does to have them after the extension could not be created.
FIX = ("install PostgreSQL's contrib package (pg_trgm), then as the database's owner "
       "(or a superuser) run: CREATE EXTENSION pg_trgm; "
       + " ".join(f"CREATE INDEX {name} ON {table} USING gin ({expr} gin_trgm_ops);"
                  for name, (table, expr) in INDEXES.items()))


def create(conn: Connection, extension: str = EXTENSION) -> bool:
    """Create the extension (if need be) and the indexes on PostgreSQL; True if they are
    there. The extension is tried in a savepoint: where it cannot be created, the
    transaction (the migration's) goes on without the indexes and a warning says why."""
    if conn.dialect.name != "postgresql":
        return False
    savepoint = conn.begin_nested()
    try:
        conn.execute(text(f'CREATE EXTENSION IF NOT EXISTS "{extension}"'))
    except DBAPIError as exc:
        savepoint.rollback()
        log.warning("the subscribers search has no trigram indexes: the PostgreSQL "
                    "extension %s could not be created (%s); the search still works but "
                    "reads every subscriber. To add them: %s", extension,
                    str(exc.orig).strip().splitlines()[0], FIX)
        return False
    savepoint.commit()
    for name, (table, expr) in INDEXES.items():
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
                          f"USING gin ({expr} gin_trgm_ops)"))
    # The statistics of lower(name) come with its index, at the next ANALYZE: until then
    # the planner guessed 8,000 of a million names match anything and gathered all of
    # them from the index where a scan stopped after the first 5,001 ("berg": 1 ms).
    for table in sorted({table for table, _ in INDEXES.values()}):
        conn.execute(text(f"ANALYZE {table}"))
    return True


def drop(conn: Connection) -> None:
    """Drop the indexes (the extension stays: other databases' objects may use it)."""
    if conn.dialect.name == "postgresql":
        for name in INDEXES:
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))


def missing(conn: Connection) -> list[str]:
    """The trigram indexes a PostgreSQL database lacks (none on SQLite)."""
    if conn.dialect.name != "postgresql":
        return []
    have = set(conn.scalars(text("SELECT indexname FROM pg_indexes WHERE "
                                 "schemaname = current_schema()")))
    return [name for name in INDEXES if name not in have]
