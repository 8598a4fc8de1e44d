"""smtp_buckets: rate limits shared by every worker process, one row per SMTP server

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 00:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "smtp_buckets",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("tokens_second", sa.Float(), nullable=False),
        sa.Column("tokens_hour", sa.Float(), nullable=False),
        sa.Column("stamp", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_smtp_buckets")),
    )


def downgrade() -> None:
    op.drop_table("smtp_buckets")
