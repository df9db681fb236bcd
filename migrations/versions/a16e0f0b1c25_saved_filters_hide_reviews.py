"""Saved triage filters, and hides by product managers awaiting an admin's review.

Revision ID: a16e0f0b1c25
Revises: a16e0e8a9b04
Create Date: 2026-12-07 10:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = 'a16e0f0b1c25'
down_revision = "a16e0e8a9b04"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'saved_filters',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=60), nullable=False),
        sa.Column('query', sa.String(length=500), nullable=False),
        sa.Column('shared', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_saved_filters_owner_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_filters')),
        sa.UniqueConstraint('owner_id', 'name', name=op.f('uq_saved_filters_owner_id_name')),
    )
    with op.batch_alter_table('saved_filters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_filters_owner_id'), ['owner_id'], unique=False)

    op.create_table(
        'hide_reviews',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('target', sa.String(length=40), nullable=False),
        sa.Column('idea_id', sa.Integer(), nullable=False),
        sa.Column('comment_id', sa.Integer(), nullable=True),
        sa.Column('hidden_by_id', sa.Integer(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("target LIKE 'idea:%' OR target LIKE 'comment:%'", name=op.f('ck_hide_reviews_target_kind')),
        sa.ForeignKeyConstraint(['comment_id'], ['comments.id'], name=op.f('fk_hide_reviews_comment_id_comments'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['hidden_by_id'], ['users.id'], name=op.f('fk_hide_reviews_hidden_by_id_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['idea_id'], ['ideas.id'], name=op.f('fk_hide_reviews_idea_id_ideas'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_hide_reviews')),
        sa.UniqueConstraint('target', name=op.f('uq_hide_reviews_target')),
    )
    with op.batch_alter_table('hide_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hide_reviews_comment_id'), ['comment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hide_reviews_idea_id'), ['idea_id'], unique=False)


def downgrade():
    with op.batch_alter_table('hide_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hide_reviews_idea_id'))
        batch_op.drop_index(batch_op.f('ix_hide_reviews_comment_id'))
    op.drop_table('hide_reviews')
    with op.batch_alter_table('saved_filters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_filters_owner_id'))
    op.drop_table('saved_filters')
