"""single-use confirmation links: the newest link's hash and expiry, stored like a reset link's

A confirmation link was a signed {user, email} that signed its holder in on every use for three
days, even after a new password or a sign-out. Each link is now a random token whose hash is kept
on the account: a newer link replaces it, using it ends it, a new password or a suspension
clears it. Links sent before this revision carry no stored hash and so no longer work; their
page asks for a new one.

Revision ID: 3f6d2b8e1c47
Revises: 59b4a7d9bf4b
Create Date: 2026-12-07 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3f6d2b8e1c47'
down_revision = '59b4a7d9bf4b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verify_token_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('verify_token_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_users_verify_token_hash'), ['verify_token_hash'])


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_verify_token_hash'), type_='unique')
        batch_op.drop_column('verify_token_expires_at')
        batch_op.drop_column('verify_token_hash')
