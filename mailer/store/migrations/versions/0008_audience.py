"""Segments and send windows: saved segments, a mailing's conditions and send window

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 00:40:00
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("conditions", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["lists.id"],
                                name=op.f("fk_segments_list_id_lists"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("name", name=op.f("uq_segments_name")),
    )
    op.create_index(op.f("ix_segments_list_id"), "segments", ["list_id"], unique=False)
    with op.batch_alter_table("mailings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audience", JSON, nullable=False,
                                      server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column("segment", sa.String(length=100), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("send_window", sa.String(length=100), nullable=False,
                                      server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("mailings", schema=None) as batch_op:
        batch_op.drop_column("send_window")
        batch_op.drop_column("segment")
        batch_op.drop_column("audience")
    op.drop_index(op.f("ix_segments_list_id"), table_name="segments")
    op.drop_table("segments")
