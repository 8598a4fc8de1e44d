"""clicks: tracked links per mailing with counters, keyed click tags, per-person clicks

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 01:35:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mailing_links',
    sa.Column('mailing_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('clicks', sa.Integer(), nullable=False),
    sa.Column('clickers', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['mailing_id'], ['mailings.id'], name=op.f('fk_mailing_links_mailing_id_mailings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailing_id', 'position', name=op.f('pk_mailing_links'))
    )
    op.create_table('click_tags',
    sa.Column('mailing_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('tag', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['mailing_id'], ['mailings.id'], name=op.f('fk_click_tags_mailing_id_mailings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mailing_id', 'position', 'tag', name=op.f('pk_click_tags'))
    )
    op.create_table('person_clicks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailing_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('outbox_id', sa.Integer(), nullable=False),
    sa.Column('clicked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mailing_id'], ['mailings.id'], name=op.f('fk_person_clicks_mailing_id_mailings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'], name=op.f('fk_person_clicks_outbox_id_outbox'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_clicks'))
    )
    with op.batch_alter_table('person_clicks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_clicks_mailing_id'), ['mailing_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('person_clicks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_clicks_mailing_id'))
    op.drop_table('person_clicks')
    op.drop_table('click_tags')
    op.drop_table('mailing_links')
