"""Organisations stored under a longer name of a municipality or region, such as "Hylte
kommun, IT-avdelningen" or "Socialförvaltningen, Malmö stad", typed before typed names
were matched to the official list, join that municipality or region.

A look-up of such a name now finds "Hylte kommun" (``organisation_key``), so the old row
could no longer be found: its people and their seats were counted apart from the
municipality's. Every row whose stored ``name_key`` is not the key its name has now is
renamed to the official name or, when a row under that name exists, merged into it (its
subscribers and registrations move there, its code too if that row has none, and the old
row goes), as 0018 did for a fixed list of names. The names here are whatever people
typed, so the key is the look-ups' own (``organisation_key`` as it is when this runs): a
merged row is exactly one no look-up would find. Registrations are kept as they were
(registered, wait-listed…): an organisation that now holds more registrations than
seats shows it ("3 of 2 seats") rather than anyone being moved or dropped.

A merge cannot be undone: the downgrade changes nothing.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 04:00:00
"""
import sqlalchemy as sa
from alembic import op

from mailer.domain.organisations import canonical
from mailer.domain.subscriber_rows import organisation_key

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

ORGS = sa.table("organisations", sa.column("id", sa.Integer), sa.column("name", sa.String),
                sa.column("name_key", sa.String), sa.column("code", sa.String))
SUBSCRIBERS = sa.table("subscribers", sa.column("organisation_id", sa.Integer))
REGISTRATIONS = sa.table("registrations", sa.column("organisation_id", sa.Integer))


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(ORGS.c.id, ORGS.c.name, ORGS.c.name_key, ORGS.c.code)
                        .order_by(ORGS.c.id)).all()
    for row in rows:
        key = organisation_key(row.name)
        if not key or key == row.name_key:
            continue
        target = conn.execute(sa.select(ORGS.c.id, ORGS.c.code)
                              .where(ORGS.c.name_key == key)).first()
        if target is None:
            conn.execute(sa.update(ORGS).where(ORGS.c.id == row.id)
                         .values(name=canonical(row.name), name_key=key))
            continue
        for table in (SUBSCRIBERS, REGISTRATIONS):
            conn.execute(sa.update(table).where(table.c.organisation_id == row.id)
                         .values(organisation_id=target.id))
        conn.execute(sa.delete(ORGS).where(ORGS.c.id == row.id))
        if row.code and not target.code:
            conn.execute(sa.update(ORGS).where(ORGS.c.id == target.id).values(code=row.code))


def downgrade() -> None:
    pass
