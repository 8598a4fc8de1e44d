"""brands: a list names its newsletter's brand; a mailing records its brand, From, Reply-To

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 02:50:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lists") as batch:
        batch.add_column(sa.Column("brand", sa.String(length=64), nullable=False,
                                   server_default=""))
    with op.batch_alter_table("mailings") as batch:
        batch.add_column(sa.Column("brand", sa.String(length=64), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("sender", sa.String(length=400), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("reply_to", sa.String(length=400), nullable=False,
                                   server_default=""))
        batch.create_index("ix_mailings_brand", ["brand"])


def downgrade() -> None:
    with op.batch_alter_table("mailings") as batch:
        batch.drop_index("ix_mailings_brand")
        batch.drop_column("reply_to")
        batch.drop_column("sender")
        batch.drop_column("brand")
    with op.batch_alter_table("lists") as batch:
        batch.drop_column("brand")
