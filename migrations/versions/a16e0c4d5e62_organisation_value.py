"""Organisations carry what the team knows of the customer: plan, segment, annual value
(given per month or per year, kept per year) and renewal date, for value-weighted priorities.

Revision ID: a16e0c4d5e62
Revises: c01a0e5e7a91
Create Date: 2026-12-07 09:50:00

"""

import sqlalchemy as sa
from alembic import op

revision = 'a16e0c4d5e62'
down_revision = 'c01a0e5e7a91'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan', sa.String(length=60), server_default='', nullable=False))
        batch_op.add_column(sa.Column('segment', sa.String(length=60), server_default='', nullable=False))
        batch_op.add_column(sa.Column('annual_value', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('value_basis', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('renewal_on', sa.Date(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_organisations_annual_value_not_negative'), 'annual_value >= 0'
        )
        batch_op.create_check_constraint(
            op.f('ck_organisations_value_basis_known'), "value_basis IN ('mrr', 'arr')"
        )


def downgrade():
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_organisations_value_basis_known'), type_='check')
        batch_op.drop_constraint(op.f('ck_organisations_annual_value_not_negative'), type_='check')
        batch_op.drop_column('renewal_on')
        batch_op.drop_column('value_basis')
        batch_op.drop_column('annual_value')
        batch_op.drop_column('segment')
        batch_op.drop_column('plan')
