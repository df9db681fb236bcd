"""Releases that ship ideas with a note, notifications that name their release, and the
timeframe customers see for each idea on the roadmap.

Revision ID: a16e0e8a9b04
Revises: a16e0c4d5e62
Create Date: 2026-12-07 10:00:00

"""

import sqlalchemy as sa
from alembic import op


revision = 'a16e0e8a9b04'
down_revision = 'a16e0c4d5e62'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'releases',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=120), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('published_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'published')", name=op.f('ck_releases_release_status_known')
        ),
        sa.ForeignKeyConstraint(
            ['author_id'], ['users.id'], name=op.f('fk_releases_author_id_users'),
            ondelete='SET NULL',
        ),
        sa.ForeignKeyConstraint(
            ['published_by_id'], ['users.id'], name=op.f('fk_releases_published_by_id_users'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_releases')),
    )
    op.create_index(
        'ix_releases_status_published', 'releases', ['status', 'published_at'], unique=False
    )
    op.create_table(
        'release_ideas',
        sa.Column('release_id', sa.Integer(), nullable=False),
        sa.Column('idea_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['idea_id'], ['ideas.id'], name=op.f('fk_release_ideas_idea_id_ideas'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['release_id'], ['releases.id'], name=op.f('fk_release_ideas_release_id_releases'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('release_id', 'idea_id', name=op.f('pk_release_ideas')),
    )
    op.create_index(
        op.f('ix_release_ideas_idea_id'), 'release_ideas', ['idea_id'], unique=False
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('release_id', sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f('ix_notifications_release_id'), ['release_id'], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_notifications_release_id_releases'), 'releases',
            ['release_id'], ['id'], ondelete='CASCADE',
        )
    with op.batch_alter_table('ideas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timeframe', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('ideas', schema=None) as batch_op:
        batch_op.drop_column('timeframe')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_notifications_release_id_releases'), type_='foreignkey'
        )
        batch_op.drop_index(batch_op.f('ix_notifications_release_id'))
        batch_op.drop_column('release_id')
    op.drop_index(op.f('ix_release_ideas_idea_id'), table_name='release_ideas')
    op.drop_table('release_ideas')
    op.drop_index('ix_releases_status_published', table_name='releases')
    op.drop_table('releases')
