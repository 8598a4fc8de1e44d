"""ix_outbox_not_delivered: a mailing's skipped, failed and unknown copies with the start
of their reply, only those (a partial index), so its reasons (``outbox.not_delivered``,
on the mailing's page and the API's mailings) are read from the index instead of copy by
copy; delivered copies, nearly all of them, are not in it and cost the worker nothing.

The reply is indexed up to its 200th character (PostgreSQL's B-tree limits an entry to
about 2,700 bytes; a reply may hold 1,000 characters): a reason is read from a reply's
beginning and its example shown up to that length. The WHERE is written out with the
values, as the query says it: SQLite uses a partial index only then.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 05:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

WHERE = "status IN ('skipped', 'failed', 'unknown')"


def upgrade() -> None:
    op.create_index('ix_outbox_not_delivered', 'outbox',
                    ['mailing_id', 'status', sa.text('substr(last_reply, 1, 200)')],
                    unique=False, postgresql_where=sa.text(WHERE), sqlite_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index('ix_outbox_not_delivered', table_name='outbox')
