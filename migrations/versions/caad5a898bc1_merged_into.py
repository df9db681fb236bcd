"""ideas remember which idea they were merged into

Revision ID: caad5a898bc1
Revises: b7d41f0c2a96
Create Date: 2026-11-27 08:20:23.232491

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'caad5a898bc1'
down_revision = 'b7d41f0c2a96'
branch_labels = None
depends_on = None


FK_NAME = "fk_ideas_merged_into_id_ideas"


def upgrade():
    with op.batch_alter_table("ideas") as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            FK_NAME, "ideas", ["merged_into_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_ideas_merged_into_id", ["merged_into_id"], unique=False)
    _restore_sqlite_search_triggers()


def downgrade():
    with op.batch_alter_table("ideas") as batch_op:
        batch_op.drop_index("ix_ideas_merged_into_id")
        batch_op.drop_constraint(FK_NAME, type_="foreignkey")
        batch_op.drop_column("merged_into_id")
    _restore_sqlite_search_triggers()


def _restore_sqlite_search_triggers():
    """On SQLite, batch mode rebuilt `ideas`, which drops its triggers: make them again as
    b7d41f0c2a96 did. The rows keep their ids, so the search index itself stays valid."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in ("ideas_fts_after_insert", "ideas_fts_after_delete", "ideas_fts_after_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for statement in SQLITE_SEARCH_TRIGGERS:
        op.execute(statement)


SQLITE_SEARCH_TRIGGERS = (
    "CREATE TRIGGER ideas_fts_after_insert AFTER INSERT ON ideas BEGIN "
    "INSERT INTO ideas_fts(rowid, title, problem, solution) "
    "VALUES (new.id, new.title, new.problem, new.solution); END",
    "CREATE TRIGGER ideas_fts_after_delete AFTER DELETE ON ideas BEGIN "
    "INSERT INTO ideas_fts(ideas_fts, rowid, title, problem, solution) "
    "VALUES ('delete', old.id, old.title, old.problem, old.solution); END",
    "CREATE TRIGGER ideas_fts_after_update AFTER UPDATE OF title, problem, solution ON ideas "
    "BEGIN "
    "INSERT INTO ideas_fts(ideas_fts, rowid, title, problem, solution) "
    "VALUES ('delete', old.id, old.title, old.problem, old.solution); "
    "INSERT INTO ideas_fts(rowid, title, problem, solution) "
    "VALUES (new.id, new.title, new.problem, new.solution); END",
)
