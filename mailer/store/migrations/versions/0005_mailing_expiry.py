"""mailings.expires_at: copies not sent by then are skipped (reminders after a deadline)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 11:05:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailings", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
