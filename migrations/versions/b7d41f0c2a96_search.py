"""full-text search over ideas: FTS5 on SQLite, a GIN tsvector index on PostgreSQL

Revision ID: b7d41f0c2a96
Revises: 9e2c854c8e7f
Create Date: 2026-11-27 10:12:00.000000

Autogenerate cannot see these objects (portal.services.search.autogenerate_include_object
hides them), so they are written by hand and copied here, not imported, to keep this
revision fixed whatever the models later say.

SQLite: the triggers belong to the ideas table. A later migration that rebuilds `ideas` with
batch_alter_table (copy, drop, rename) drops them, and must create them again, then
`INSERT INTO ideas_fts(ideas_fts) VALUES ('rebuild')`.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b7d41f0c2a96'
down_revision = '9e2c854c8e7f'
branch_labels = None
depends_on = None


SQLITE_UPGRADE = (
    "CREATE VIRTUAL TABLE ideas_fts USING fts5("
    "title, problem, solution, content='ideas', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
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
    # Index the ideas that already exist.
    "INSERT INTO ideas_fts(ideas_fts) VALUES ('rebuild')",
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS ideas_fts_after_update",
    "DROP TRIGGER IF EXISTS ideas_fts_after_delete",
    "DROP TRIGGER IF EXISTS ideas_fts_after_insert",
    "DROP TABLE IF EXISTS ideas_fts",
)
POSTGRESQL_UPGRADE = (
    "CREATE INDEX ix_ideas_search ON ideas USING gin (("
    "setweight(to_tsvector('english', translate(title, '<', ' ')), 'A') || "
    "setweight(to_tsvector('english', translate(problem || ' ' || solution, '<', ' ')), 'B')))",
)
POSTGRESQL_DOWNGRADE = ("DROP INDEX IF EXISTS ix_ideas_search",)


def _run(statements_by_dialect):
    for statement in statements_by_dialect.get(op.get_context().dialect.name, ()):
        op.execute(statement)


def upgrade():
    _run({"sqlite": SQLITE_UPGRADE, "postgresql": POSTGRESQL_UPGRADE})


def downgrade():
    _run({"sqlite": SQLITE_DOWNGRADE, "postgresql": POSTGRESQL_DOWNGRADE})
