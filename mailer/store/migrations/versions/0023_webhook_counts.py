"""webhook counts without counting every delivery (README, Admin pages at a million)

- ``webhook_endpoints.delivered``: the deliveries an endpoint answered 2xx to, ever,
  counted by ``store.webhooks.record`` as it records them. The webhooks page, the API's
  endpoints and ``mailer webhooks`` grouped the whole ``webhook_deliveries`` table by
  endpoint and status on every view: one row per event and endpoint, never pruned, so
  with a million subscribers the read grew by every confirmation, unsubscribe and bounce.
  The existing deliveries are counted here, in the migration's transaction.
- ``ix_webhook_deliveries_pending`` (partial: the waiting deliveries only), so "waiting"
  is counted from an index that holds only them.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30 11:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# As ``models.webhooks.PENDING_SQL``: the queries say it in the same words.
PENDING_SQL = "status = 'pending'"


def upgrade() -> None:
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered', sa.BigInteger(), server_default='0',
                                      nullable=False))
    op.execute("UPDATE webhook_endpoints SET delivered = (SELECT count(*) FROM "
               "webhook_deliveries d WHERE d.endpoint_id = webhook_endpoints.id AND "
               "d.status = 'delivered')")
    op.create_index('ix_webhook_deliveries_pending', 'webhook_deliveries', ['endpoint_id'],
                    unique=False, postgresql_where=sa.text(PENDING_SQL),
                    sqlite_where=sa.text(PENDING_SQL))


def downgrade() -> None:
    op.drop_index('ix_webhook_deliveries_pending', table_name='webhook_deliveries')
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.drop_column('delivered')
