"""deliverability: suppressions, feedback_events (bounces, complaints), inbound_messages

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 00:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("reason", sa.Enum("hard_bounce", "soft_bounces", "complaint", "manual",
                                    "erased", name="suppression_reason", native_enum=False,
                                    length=20), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("email_hash", name=op.f("uq_suppressions_email_hash")),
        sa.UniqueConstraint("email_key", name=op.f("uq_suppressions_email_key")),
    )
    op.create_table(
        "feedback_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Enum("bounce", "complaint", name="feedback_event_kind",
                                  native_enum=False, length=20), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("mailing_id", sa.Integer(), nullable=True),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("bounce_class", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("diagnostic", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["mailing_id"], ["mailings.id"],
                                name=op.f("fk_feedback_events_mailing_id_mailings"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"],
                                name=op.f("fk_feedback_events_outbox_id_outbox"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_events")),
    )
    with op.batch_alter_table("feedback_events", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_events_hash_at", ["email_hash", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_feedback_events_mailing_id"), ["mailing_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_feedback_events_outbox_id"), ["outbox_id"],
                              unique=False)
    op.create_table(
        "inbound_messages",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_inbound_messages")),
    )


def downgrade() -> None:
    op.drop_table("inbound_messages")
    with op.batch_alter_table("feedback_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_events_outbox_id"))
        batch_op.drop_index(batch_op.f("ix_feedback_events_mailing_id"))
        batch_op.drop_index("ix_feedback_events_hash_at")
    op.drop_table("feedback_events")
    op.drop_table("suppressions")
