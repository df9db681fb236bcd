"""a follow remembers whether a vote brought it, so withdrawing the vote can undo it

Withdrawing a vote left the follow the vote had added: the person went on getting news of an
idea they no longer backed. A follow now says whether it came only with a vote (via_vote);
withdrawing the vote ends such a follow and keeps one the person chose. Follows made before
this revision are all kept as chosen: nobody's follow disappears on upgrade.

Revision ID: 7c1e5a9d3b42
Revises: 3f8a1c6d2b70
Create Date: 2026-12-07 07:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c1e5a9d3b42'
down_revision = '3f8a1c6d2b70'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('follows', sa.Column('via_vote', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('follows', schema=None) as batch_op:
        batch_op.drop_column('via_vote')
