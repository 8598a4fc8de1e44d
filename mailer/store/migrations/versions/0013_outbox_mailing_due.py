"""outbox: the per-mailing index also holds next_attempt_at, so "has this mailing a copy
due now?" is one index seek (the worker asks it for every sending mailing, inside its
claim's write transaction; without it SQLite walked every due row of every mailing)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 03:00:00
"""
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_mailing_due', ['mailing_id', 'status', 'next_attempt_at'],
                              unique=False)
        batch_op.drop_index('ix_outbox_mailing_status')


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_mailing_status', ['mailing_id', 'status'], unique=False)
        batch_op.drop_index('ix_outbox_mailing_due')
