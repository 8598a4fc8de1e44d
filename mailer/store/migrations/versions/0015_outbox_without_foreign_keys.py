"""outbox: no foreign keys. PostgreSQL checks a foreign key row by row; the checks of the
mailing and the subscriber were half of planning a million copies (README, "Large
mailings"). Rows are written only by planning, from the subscribers table in the same
statement; mailings are never deleted; erasure deletes a subscriber's rows itself
(``store.subscribers.erase_subscriber``), which the cascade did before, and the claim
deletes a row whose subscriber is gone (``store.outbox.claim_batch``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 19:40:00
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint("fk_outbox_mailing_id_mailings", type_="foreignkey")
        batch_op.drop_constraint("fk_outbox_subscriber_id_subscribers", type_="foreignkey")


def downgrade() -> None:
    # Rows of erased subscribers are deleted by erasure, so none is left to break these.
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_outbox_subscriber_id_subscribers", "subscribers",
                                    ["subscriber_id"], ["id"], ondelete="CASCADE")
        batch_op.create_foreign_key("fk_outbox_mailing_id_mailings", "mailings",
                                    ["mailing_id"], ["id"], ondelete="CASCADE")
