"""outbox_tally: each mailing's rows per status, kept by triggers on ``outbox``, so a
progress read sums a few rows instead of counting a mailing's copies (about a second for
a million on PostgreSQL while they were sent; README, Large mailings). See
``models.delivery.OutboxTally``.

Status changes and deletes are counted by triggers. SQLite: row triggers keep one row per
mailing and status. PostgreSQL: statement triggers append each statement's change per
mailing and status from its transition tables (insert-only: concurrent workers never wait
on a shared counter row), folded together by ``store.outbox.compact_tally``. New rows are
counted by the two functions that insert them (``store.outbox.plan_lists`` and
``plan_explicit``), which know how many they added: a trigger on the insert cost 3.4 s
(SQLite) and about 2 s (PostgreSQL) of planning a million copies. The existing rows are counted in the migration's own
transaction, after the triggers exist; on PostgreSQL ``CREATE TRIGGER`` locks ``outbox``
against writes until the commit, so no change falls between the count and the triggers.

Also ``ix_subscriptions_unsubscribed_at`` (partial: ended subscriptions only), so sender
health's "unsubscribed after this mailing" starts from the few ended subscriptions instead
of every copy sent, the other count of a progress read that grew with a mailing's size.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 21:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# SQLite: the tally row of (mailing, status) is made on first use, then updated in place
# (``store.outbox._tally_added`` does the same for new rows).
_SQLITE_ADD = """
    UPDATE outbox_tally SET n = n + 1
     WHERE mailing_id = NEW.mailing_id AND status = NEW.status;
    INSERT INTO outbox_tally (mailing_id, status, n)
    SELECT NEW.mailing_id, NEW.status, 1
     WHERE NOT EXISTS (SELECT 1 FROM outbox_tally
                        WHERE mailing_id = NEW.mailing_id AND status = NEW.status);
"""
_SQLITE_TAKE = """
    UPDATE outbox_tally SET n = n - 1
     WHERE mailing_id = OLD.mailing_id AND status = OLD.status;
"""
SQLITE_TRIGGERS = (
    "CREATE TRIGGER outbox_tally_update AFTER UPDATE OF status, mailing_id ON outbox "
    "WHEN OLD.status IS NOT NEW.status OR OLD.mailing_id IS NOT NEW.mailing_id "
    f"BEGIN {_SQLITE_TAKE} {_SQLITE_ADD} END",
    f"CREATE TRIGGER outbox_tally_delete AFTER DELETE ON outbox BEGIN {_SQLITE_TAKE} END",
)

_PG_FUNCTIONS = {
    "update": """
        INSERT INTO outbox_tally (mailing_id, status, n)
        SELECT mailing_id, status, sum(n) FROM (
            SELECT mailing_id, status, -1 AS n FROM outbox_old
            UNION ALL
            SELECT mailing_id, status, 1 AS n FROM outbox_new) AS change
         GROUP BY mailing_id, status HAVING sum(n) <> 0;
    """,
    "delete": """
        INSERT INTO outbox_tally (mailing_id, status, n)
        SELECT mailing_id, status, -count(*) FROM outbox_old GROUP BY mailing_id, status;
    """,
}
_PG_REFERENCING = {
    "update": "REFERENCING OLD TABLE AS outbox_old NEW TABLE AS outbox_new",
    "delete": "REFERENCING OLD TABLE AS outbox_old",
}


def sqlite_triggers() -> None:
    """Create the SQLite triggers (again, after a migration rebuilt ``outbox``)."""
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        'outbox_tally',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('mailing_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_tally')),
    )
    op.create_index('ix_outbox_tally_mailing', 'outbox_tally', ['mailing_id', 'status'],
                    unique=False)
    op.create_index('ix_subscriptions_unsubscribed_at', 'subscriptions', ['unsubscribed_at'],
                    unique=False, postgresql_where=sa.text('unsubscribed_at IS NOT NULL'),
                    sqlite_where=sa.text('unsubscribed_at IS NOT NULL'))
    if op.get_bind().dialect.name == "postgresql":
        for event, body in _PG_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION outbox_tally_{event}() RETURNS trigger "
                       f"LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$")
            op.execute(f"CREATE TRIGGER outbox_tally_{event} AFTER {event.upper()} ON outbox "
                       f"{_PG_REFERENCING[event]} FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION outbox_tally_{event}()")
    else:
        sqlite_triggers()
    op.execute("INSERT INTO outbox_tally (mailing_id, status, n) "
               "SELECT mailing_id, status, count(*) FROM outbox GROUP BY mailing_id, status")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for event in _PG_FUNCTIONS:
        op.execute(f"DROP TRIGGER IF EXISTS outbox_tally_{event}" + (" ON outbox" if pg else ""))
        if pg:
            op.execute(f"DROP FUNCTION IF EXISTS outbox_tally_{event}()")
    op.drop_index('ix_subscriptions_unsubscribed_at', table_name='subscriptions')
    op.drop_index('ix_outbox_tally_mailing', table_name='outbox_tally')
    op.drop_table('outbox_tally')
