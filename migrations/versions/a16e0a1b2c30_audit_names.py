"""Audit events keep the names of who acted and what they acted on, as they were at the time.

Existing events get today's names, the best there is: before this, only ids were kept.

Revision ID: a16e0a1b2c30
Revises: a16e0f0b1c25
Create Date: 2026-12-07 10:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = 'a16e0a1b2c30'
down_revision = "a16e0f0b1c25"
branch_labels = None
depends_on = None

# target_type -> (table, the column that names a row); comments are named by their idea's title.
NAMED = {
    'users': 'display_name',
    'ideas': 'title',
    'stages': 'name',
    'categories': 'name',
    'organisations': 'name',
}


def upgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('actor_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('target_name', sa.String(length=200), nullable=True))
    events = sa.table(
        'audit_events',
        sa.column('actor_id', sa.Integer),
        sa.column('actor_name', sa.String),
        sa.column('target_type', sa.String),
        sa.column('target_id', sa.Integer),
        sa.column('target_name', sa.String),
    )
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('display_name', sa.String))
    op.execute(
        events.update()
        .where(events.c.actor_id.is_not(None))
        .values(
            actor_name=sa.select(users.c.display_name)
            .where(users.c.id == events.c.actor_id)
            .scalar_subquery()
        )
    )
    for target_type, column in NAMED.items():
        table = sa.table(target_type, sa.column('id', sa.Integer), sa.column(column, sa.String))
        op.execute(
            events.update()
            .where(events.c.target_type == target_type)
            .values(
                target_name=sa.select(sa.func.substr(table.c[column], 1, 200))
                .where(table.c.id == events.c.target_id)
                .scalar_subquery()
            )
        )
    comments = sa.table('comments', sa.column('id', sa.Integer), sa.column('idea_id', sa.Integer))
    ideas = sa.table('ideas', sa.column('id', sa.Integer), sa.column('title', sa.String))
    op.execute(
        events.update()
        .where(events.c.target_type == 'comments')
        .values(
            target_name=sa.select(sa.func.substr('a comment on “' + ideas.c.title + '”', 1, 200))
            .select_from(comments.join(ideas, ideas.c.id == comments.c.idea_id))
            .where(comments.c.id == events.c.target_id)
            .scalar_subquery()
        )
    )


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('target_name')
        batch_op.drop_column('actor_name')
