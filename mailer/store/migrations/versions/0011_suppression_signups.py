"""suppression_signups: sign-ups seen for a suppressed address (count, last time, where)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 03:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("suppressions") as batch:
        batch.add_column(sa.Column("signup_attempts", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("last_signup_at", sa.DateTime(timezone=True),
                                   nullable=True))
        batch.add_column(sa.Column("last_signup", sa.String(length=200), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("suppressions") as batch:
        batch.drop_column("last_signup")
        batch.drop_column("last_signup_at")
        batch.drop_column("signup_attempts")
