"""Stages have a colour for their badges; the default stages get light shades under dark text.

Revision ID: c01a0e5e7a91
Revises: 7c1e5a9d3b42
Create Date: 2026-12-07 08:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = 'c01a0e5e7a91'
down_revision = '7c1e5a9d3b42'
branch_labels = None
depends_on = None

# Fixed here, whatever portal.services.catalog later says: a migration means one thing forever.
DEFAULT_COLOURS = {
    'new': '#e5e7eb',
    'under_review': '#fde68a',
    'planned': '#bfdbfe',
    'in_progress': '#c7d2fe',
    'shipped': '#bbf7d0',
    'declined': '#fecaca',
    'merged': '#e5e7eb',
}


def upgrade():
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('colour', sa.String(length=7), nullable=True))
    stages = sa.table('stages', sa.column('slug', sa.String), sa.column('colour', sa.String))
    for slug, colour in DEFAULT_COLOURS.items():
        op.execute(stages.update().where(stages.c.slug == slug).values(colour=colour))


def downgrade():
    with op.batch_alter_table('stages', schema=None) as batch_op:
        batch_op.drop_column('colour')
