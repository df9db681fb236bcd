"""Boards with audiences: every idea belongs to one; the existing ideas move into a default board

Revision ID: b17a0a1b2c01
Revises: a16e0b2c3d41
Create Date: 2026-12-07 13:00:00

"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "b17a0a1b2c01"
down_revision = "a16e0b2c3d41"
branch_labels = None
depends_on = None


BOARD_ORDERS = (
    ("ix_ideas_board_trending", "trending_score"),
    ("ix_ideas_board_votes", "vote_count"),
    ("ix_ideas_board_created", "created_at"),
    ("ix_ideas_board_comments", "comment_count"),
    ("ix_ideas_board_activity", "last_activity_at"),
)


def upgrade():
    op.create_table(
        "boards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("audience", sa.String(length=10), server_default="public", nullable=False),
        sa.Column("posting_open", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("voting_open", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "audience IN ('public', 'signed_in', 'private')", name=op.f("ck_boards_audience_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boards")),
        sa.UniqueConstraint("name", name=op.f("uq_boards_name")),
        sa.UniqueConstraint("slug", name=op.f("uq_boards_slug")),
    )
    op.create_table(
        "board_organisations",
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["board_id"],
            ["boards.id"],
            name=op.f("fk_board_organisations_board_id_boards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_board_organisations_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("board_id", "organisation_id", name=op.f("pk_board_organisations")),
    )
    op.create_index(
        op.f("ix_board_organisations_organisation_id"), "board_organisations", ["organisation_id"]
    )
    op.create_table(
        "board_domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.ForeignKeyConstraint(
            ["board_id"],
            ["boards.id"],
            name=op.f("fk_board_domains_board_id_boards"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_domains")),
        sa.UniqueConstraint("board_id", "domain", name=op.f("uq_board_domains_board_id_domain")),
    )
    op.create_index(op.f("ix_board_domains_domain"), "board_domains", ["domain"])
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["board_id"], ["boards.id"], name=op.f("fk_invites_board_id_boards"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_invites_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["used_by_id"],
            ["users.id"],
            name=op.f("fk_invites_used_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invites_token_hash")),
    )
    op.create_index("ix_invites_board_email", "invites", ["board_id", "email"])
    op.create_table(
        "board_members",
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("invite_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["board_id"],
            ["boards.id"],
            name=op.f("fk_board_members_board_id_boards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_board_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invite_id"],
            ["invites.id"],
            name=op.f("fk_board_members_invite_id_invites"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("board_id", "user_id", name=op.f("pk_board_members")),
    )
    op.create_index(op.f("ix_board_members_user_id"), "board_members", ["user_id"])
    op.create_table(
        "board_categories",
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["board_id"],
            ["boards.id"],
            name=op.f("fk_board_categories_board_id_boards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_board_categories_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("board_id", "category_id", name=op.f("pk_board_categories")),
    )
    op.create_table(
        "board_stages",
        sa.Column("board_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["board_id"],
            ["boards.id"],
            name=op.f("fk_board_stages_board_id_boards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["stage_id"],
            ["stages.id"],
            name=op.f("fk_board_stages_stage_id_stages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("board_id", "stage_id", name=op.f("pk_board_stages")),
    )

    # The board every existing idea moves into: public, open for posting and voting, as the one
    # list was.
    boards = sa.table(
        "boards",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("slug", sa.String),
        sa.column("description", sa.Text),
        sa.column("position", sa.Integer),
        sa.column("audience", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(
        boards,
        [
            {
                "id": 1,
                "name": "Ideas",
                "slug": "ideas",
                "description": "Ideas for the product, open to everyone.",
                "position": 0,
                "audience": "public",
                "created_at": datetime.now(UTC),
            }
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('boards', 'id'), 1)")

    # Added with a default of that board, so every row has it in one statement; the default
    # then goes (new ideas name their board).
    with op.batch_alter_table("ideas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("board_id", sa.Integer(), server_default="1", nullable=False))
        batch_op.create_foreign_key(
            op.f("fk_ideas_board_id_boards"), "boards", ["board_id"], ["id"]
        )
        # One board's list in each order without sorting; the first column serves the key.
        for name, column in BOARD_ORDERS:
            batch_op.create_index(name, ["board_id", column, "id"], unique=False)
    with op.batch_alter_table("ideas", schema=None) as batch_op:
        batch_op.alter_column("board_id", server_default=None)
    _restore_sqlite_search_triggers()


def downgrade():
    with op.batch_alter_table("ideas", schema=None) as batch_op:
        for name, _column in BOARD_ORDERS:
            batch_op.drop_index(name)
        batch_op.drop_constraint(op.f("fk_ideas_board_id_boards"), type_="foreignkey")
        batch_op.drop_column("board_id")
    _restore_sqlite_search_triggers()
    op.drop_table("board_stages")
    op.drop_table("board_categories")
    op.drop_index(op.f("ix_board_members_user_id"), table_name="board_members")
    op.drop_table("board_members")
    op.drop_index("ix_invites_board_email", table_name="invites")
    op.drop_table("invites")
    op.drop_index(op.f("ix_board_domains_domain"), table_name="board_domains")
    op.drop_table("board_domains")
    op.drop_index(op.f("ix_board_organisations_organisation_id"), table_name="board_organisations")
    op.drop_table("board_organisations")
    op.drop_table("boards")


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
