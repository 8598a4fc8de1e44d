"""subscription_tally: each list's subscriptions per status, kept by triggers on
``subscriptions``, so the dashboard, the lists page and the API's lists sum a few rows
instead of counting every subscription on each view (README, Admin pages at a million).
See ``models.subscribers.SubscriptionTally``.

Inserts, status and list changes and deletes are counted by triggers (every writer of
subscriptions alike: sign-up, confirmation, unsubscribe, import, erasure, a list's
deletion by cascade). SQLite: row triggers keep one row per list and status. PostgreSQL:
statement triggers append each statement's change per list and status from its
transition tables (insert-only: concurrent writers never wait on a shared counter row),
folded together by ``store.lists.compact_list_tally``. The existing rows are counted in
the migration's own transaction, after the triggers exist; on PostgreSQL ``CREATE
TRIGGER`` locks ``subscriptions`` against writes until the commit, so no change falls
between the count and the triggers.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 05:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# SQLite: the tally row of (list, status) is made on first use, then updated in place.
_SQLITE_ADD = """
    UPDATE subscription_tally SET n = n + 1
     WHERE list_id = NEW.list_id AND status = NEW.status;
    INSERT INTO subscription_tally (list_id, status, n)
    SELECT NEW.list_id, NEW.status, 1
     WHERE NOT EXISTS (SELECT 1 FROM subscription_tally
                        WHERE list_id = NEW.list_id AND status = NEW.status);
"""
_SQLITE_TAKE = """
    UPDATE subscription_tally SET n = n - 1
     WHERE list_id = OLD.list_id AND status = OLD.status;
"""
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER subscription_tally_insert AFTER INSERT ON subscriptions "
    f"BEGIN {_SQLITE_ADD} END",
    "CREATE TRIGGER subscription_tally_update AFTER UPDATE OF status, list_id ON subscriptions "
    "WHEN OLD.status IS NOT NEW.status OR OLD.list_id IS NOT NEW.list_id "
    f"BEGIN {_SQLITE_TAKE} {_SQLITE_ADD} END",
    "CREATE TRIGGER subscription_tally_delete AFTER DELETE ON subscriptions "
    f"BEGIN {_SQLITE_TAKE} END",
)

_PG_FUNCTIONS = {
    "insert": """
        INSERT INTO subscription_tally (list_id, status, n)
        SELECT list_id, status, count(*) FROM subscriptions_new GROUP BY list_id, status;
    """,
    "update": """
        INSERT INTO subscription_tally (list_id, status, n)
        SELECT list_id, status, sum(n) FROM (
            SELECT list_id, status, -1 AS n FROM subscriptions_old
            UNION ALL
            SELECT list_id, status, 1 AS n FROM subscriptions_new) AS change
         GROUP BY list_id, status HAVING sum(n) <> 0;
    """,
    "delete": """
        INSERT INTO subscription_tally (list_id, status, n)
        SELECT list_id, status, -count(*) FROM subscriptions_old GROUP BY list_id, status;
    """,
}
_PG_REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS subscriptions_new",
    "update": "REFERENCING OLD TABLE AS subscriptions_old NEW TABLE AS subscriptions_new",
    "delete": "REFERENCING OLD TABLE AS subscriptions_old",
}


def sqlite_triggers() -> None:
    """Create the SQLite triggers (again, after a migration rebuilt ``subscriptions``)."""
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        'subscription_tally',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('list_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_tally')),
    )
    op.create_index('ix_subscription_tally_list', 'subscription_tally', ['list_id', 'status'],
                    unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for event, body in _PG_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION subscription_tally_{event}() RETURNS trigger "
                       f"LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$")
            op.execute(f"CREATE TRIGGER subscription_tally_{event} AFTER {event.upper()} ON "
                       f"subscriptions {_PG_REFERENCING[event]} FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION subscription_tally_{event}()")
    else:
        sqlite_triggers()
    op.execute("INSERT INTO subscription_tally (list_id, status, n) "
               "SELECT list_id, status, count(*) FROM subscriptions GROUP BY list_id, status")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for event in _PG_FUNCTIONS:
        op.execute(f"DROP TRIGGER IF EXISTS subscription_tally_{event}"
                   + (" ON subscriptions" if pg else ""))
        if pg:
            op.execute(f"DROP FUNCTION IF EXISTS subscription_tally_{event}()")
    op.drop_index('ix_subscription_tally_list', table_name='subscription_tally')
    op.drop_table('subscription_tally')
