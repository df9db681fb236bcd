"""API keys: tokens for the JSON API, each with its scopes; only the token's hash is kept.

Revision ID: c19k3y5a0001
Revises: b17a0a1b2c01
Create Date: 2026-12-07 19:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = 'c19k3y5a0001'
down_revision = 'b17a0a1b2c01'
branch_labels = None
depends_on = None

# As portal.models.api_key.SCOPE_SETS: "read" and any of write, team and admin, in that order.
SCOPE_SETS = (
    'read', 'read write', 'read team', 'read admin', 'read write team', 'read write admin',
    'read team admin', 'read write team admin',
)


def upgrade():
    op.create_table(
        'api_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('scopes', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"scopes IN {SCOPE_SETS!r}", name=op.f('ck_api_keys_scopes_known')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_keys_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_api_keys_token_hash')),
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_user_id'))
    op.drop_table('api_keys')
