"""outbox_tally.at: the tally of a final state (and of retry) per second, so a mailing's
chart and the dashboard's "last delivery activity" are summed from the tally instead of
read from every copy (1.6–2.2 s for the dashboard after a million copies on PostgreSQL;
README, Large mailings). See ``models.delivery.OutboxTally``.

The triggers of 0016 now key each change by (mailing, status, at), ``at`` being the second
of the row's ``sent_at``, else its ``updated_at``, for the states in ``TIMED`` and NULL
for the others; SQLite's update trigger also fires when a row's outcome time moves to
another second without a change of state (no statement does that today). The rows of the
timed states already counted are counted again from the outbox, per second, in the
migration's transaction; on PostgreSQL after ``LOCK TABLE outbox`` against writes, so no
change falls between the new functions and the count.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 00:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# models.delivery.TIMED as it was written here (a migration does not follow the code).
_TIMED = "('sent', 'failed', 'skipped', 'unknown', 'retry')"


def _second(row: str, pg: bool) -> str:
    """SQL for the tally's ``at`` of an outbox row (``row``: NEW, OLD or a table's name)."""
    when = f"coalesce({row}.sent_at, {row}.updated_at)"
    # SQLite keeps the timestamp as text, 'YYYY-MM-DD HH:MM:SS.ffffff': the second is its
    # first 19 characters, written back in the same shape.
    second = f"date_trunc('second', {when})" if pg else f"substr({when}, 1, 19) || '.000000'"
    return f"CASE WHEN {row}.status IN {_TIMED} THEN {second} END"


def _sqlite_add() -> str:
    at = _second("NEW", pg=False)
    return f"""
    UPDATE outbox_tally SET n = n + 1
     WHERE mailing_id = NEW.mailing_id AND status = NEW.status AND at IS {at};
    INSERT INTO outbox_tally (mailing_id, status, at, n)
    SELECT NEW.mailing_id, NEW.status, {at}, 1
     WHERE NOT EXISTS (SELECT 1 FROM outbox_tally
                        WHERE mailing_id = NEW.mailing_id AND status = NEW.status
                          AND at IS {at});
"""


def _sqlite_take() -> str:
    return f"""
    UPDATE outbox_tally SET n = n - 1
     WHERE mailing_id = OLD.mailing_id AND status = OLD.status AND at IS {_second("OLD", pg=False)};
"""


SQLITE_TRIGGERS = (
    "CREATE TRIGGER outbox_tally_update "
    "AFTER UPDATE OF status, mailing_id, sent_at, updated_at ON outbox "
    "WHEN OLD.status IS NOT NEW.status OR OLD.mailing_id IS NOT NEW.mailing_id "
    f"OR {_second('OLD', pg=False)} IS NOT {_second('NEW', pg=False)} "
    f"BEGIN {_sqlite_take()} {_sqlite_add()} END",
    f"CREATE TRIGGER outbox_tally_delete AFTER DELETE ON outbox BEGIN {_sqlite_take()} END",
)

_PG_FUNCTIONS = {
    "update": f"""
        INSERT INTO outbox_tally (mailing_id, status, at, n)
        SELECT mailing_id, status, at, sum(n) FROM (
            SELECT mailing_id, status, {_second("outbox_old", pg=True)} AS at, -1 AS n
              FROM outbox_old
            UNION ALL
            SELECT mailing_id, status, {_second("outbox_new", pg=True)} AS at, 1 AS n
              FROM outbox_new) AS change
         GROUP BY mailing_id, status, at HAVING sum(n) <> 0;
    """,
    "delete": f"""
        INSERT INTO outbox_tally (mailing_id, status, at, n)
        SELECT mailing_id, status, {_second("outbox_old", pg=True)} AS at, -count(*)
          FROM outbox_old GROUP BY 1, 2, 3;
    """,
}


def sqlite_triggers() -> None:
    """Create the SQLite triggers (again, after a migration rebuilt ``outbox``)."""
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        op.execute("LOCK TABLE outbox IN SHARE ROW EXCLUSIVE MODE")
    op.add_column('outbox_tally', sa.Column('at', sa.DateTime(timezone=True), nullable=True))
    op.drop_index('ix_outbox_tally_mailing', table_name='outbox_tally')
    op.create_index('ix_outbox_tally_mailing', 'outbox_tally', ['mailing_id', 'status', 'at'],
                    unique=False)
    if pg:
        for event, body in _PG_FUNCTIONS.items():
            op.execute(f"CREATE OR REPLACE FUNCTION outbox_tally_{event}() RETURNS trigger "
                       f"LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$")
    else:
        for event in _PG_FUNCTIONS:
            op.execute(f"DROP TRIGGER outbox_tally_{event}")
        sqlite_triggers()
    op.execute(f"DELETE FROM outbox_tally WHERE status IN {_TIMED}")
    op.execute("INSERT INTO outbox_tally (mailing_id, status, at, n) "
               f"SELECT mailing_id, status, {_second('outbox', pg)}, count(*) FROM outbox "
               f"WHERE status IN {_TIMED} GROUP BY 1, 2, 3")


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        op.execute("LOCK TABLE outbox IN SHARE ROW EXCLUSIVE MODE")
    op.execute("INSERT INTO outbox_tally (mailing_id, status, n) SELECT mailing_id, status, "
               "sum(n) FROM outbox_tally WHERE at IS NOT NULL GROUP BY mailing_id, status")
    op.execute("DELETE FROM outbox_tally WHERE at IS NOT NULL")
    # 0016's triggers and functions, as 0016 wrote them.
    if pg:
        op.execute("CREATE OR REPLACE FUNCTION outbox_tally_update() RETURNS trigger "
                   "LANGUAGE plpgsql AS $$ BEGIN "
                   "INSERT INTO outbox_tally (mailing_id, status, n) "
                   "SELECT mailing_id, status, sum(n) FROM ("
                   " SELECT mailing_id, status, -1 AS n FROM outbox_old UNION ALL"
                   " SELECT mailing_id, status, 1 AS n FROM outbox_new) AS change "
                   "GROUP BY mailing_id, status HAVING sum(n) <> 0; RETURN NULL; END $$")
        op.execute("CREATE OR REPLACE FUNCTION outbox_tally_delete() RETURNS trigger "
                   "LANGUAGE plpgsql AS $$ BEGIN "
                   "INSERT INTO outbox_tally (mailing_id, status, n) "
                   "SELECT mailing_id, status, -count(*) FROM outbox_old "
                   "GROUP BY mailing_id, status; RETURN NULL; END $$")
    else:
        # Dropped before ``outbox_tally`` is rebuilt below (SQLite will not rename a table
        # under a trigger that names it), made again after.
        for event in _PG_FUNCTIONS:
            op.execute(f"DROP TRIGGER outbox_tally_{event}")
    op.drop_index('ix_outbox_tally_mailing', table_name='outbox_tally')
    op.create_index('ix_outbox_tally_mailing', 'outbox_tally', ['mailing_id', 'status'],
                    unique=False)
    with op.batch_alter_table('outbox_tally') as batch:
        batch.drop_column('at')
    if not pg:
        take = ("UPDATE outbox_tally SET n = n - 1 "
                "WHERE mailing_id = OLD.mailing_id AND status = OLD.status;")
        add = ("UPDATE outbox_tally SET n = n + 1 "
               "WHERE mailing_id = NEW.mailing_id AND status = NEW.status; "
               "INSERT INTO outbox_tally (mailing_id, status, n) "
               "SELECT NEW.mailing_id, NEW.status, 1 WHERE NOT EXISTS (SELECT 1 FROM "
               "outbox_tally WHERE mailing_id = NEW.mailing_id AND status = NEW.status);")
        op.execute("CREATE TRIGGER outbox_tally_update AFTER UPDATE OF status, mailing_id "
                   "ON outbox WHEN OLD.status IS NOT NEW.status "
                   f"OR OLD.mailing_id IS NOT NEW.mailing_id BEGIN {take} {add} END")
        op.execute(f"CREATE TRIGGER outbox_tally_delete AFTER DELETE ON outbox BEGIN {take} END")
