"""The subscribers search and its deep pages on PostgreSQL (README, Admin pages at a million).

- Trigram indexes (GIN, ``pg_trgm``) on what the search matches: ``subscribers.email_key``,
  ``lower(subscribers.name)`` and ``organisations.name_key`` (``store.trigram``). Where
  the extension cannot be created (not installed, no privilege) the migration goes on
  without them, with a warning, and the search reads every subscriber as before.
- The address's unique index carries the subscriber's id too (``INCLUDE (id)``, the same
  constraint and name): a page's ids in address order are then read from the index alone
  (an index-only scan) instead of visiting each row skipped before the page. It replaces
  the index that was there, so writes keep one index on the address, not two.

SQLite: nothing (its index on the address holds the row id already; no trigram index).

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-30 08:15:00
"""
from alembic import op

from mailer.store import trigram

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def _address_index(include: str) -> None:
    op.execute(f"CREATE UNIQUE INDEX uq_subscribers_email_key_new ON subscribers "
               f"(email_key){include}")
    op.execute("ALTER TABLE subscribers DROP CONSTRAINT uq_subscribers_email_key, "
               "ADD CONSTRAINT uq_subscribers_email_key UNIQUE USING INDEX "
               "uq_subscribers_email_key_new")


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    _address_index(" INCLUDE (id)")
    trigram.create(conn)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    trigram.drop(conn)
    _address_index("")
