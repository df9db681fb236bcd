"""hiding everything a person posted can be undone, and takes their votes out of every count

Suspending a spammer with "hide all their posts" left their votes counted, and nothing could
bring back exactly the posts it hid. Ideas and comments now remember that they were hidden with
their author's posts, and a vote can be hidden (counted nowhere) and restored.

Revision ID: 3f8a1c6d2b70
Revises: 3f6d2b8e1c47
Create Date: 2026-12-07 07:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3f8a1c6d2b70'
down_revision = '3f6d2b8e1c47'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN, not batch mode: a batch rebuild of `ideas` on SQLite would drop its
    # full-text search triggers.
    op.add_column('ideas', sa.Column('hidden_with_author', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('comments', sa.Column('hidden_with_author', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('votes', sa.Column('hidden_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.drop_column('hidden_at')

    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.drop_column('hidden_with_author')

    with op.batch_alter_table('ideas', schema=None) as batch_op:
        batch_op.drop_column('hidden_with_author')
    _restore_sqlite_search_triggers()


def _restore_sqlite_search_triggers():
    """On SQLite, dropping a column rebuilt `ideas`, which drops its full-text search triggers."""
    if op.get_bind().dialect.name != "sqlite":
        return
    from portal.models.idea import SQLITE_SEARCH_DDL

    for name in ("ideas_fts_after_insert", "ideas_fts_after_delete", "ideas_fts_after_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for statement in SQLITE_SEARCH_DDL:
        if statement.startswith("CREATE TRIGGER"):
            op.execute(statement)
