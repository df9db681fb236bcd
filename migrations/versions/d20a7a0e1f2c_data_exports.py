"""A person's copy of their data, prepared in the background and kept until it expires

Revision ID: d20a7a0e1f2c
Revises: w19a0d1e2c3e
Create Date: 2026-12-07 22:35:00

"""

import sqlalchemy as sa
from alembic import op

revision = "d20a7a0e1f2c"
down_revision = "w19a0d1e2c3e"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "data_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archive", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'skipped')",
            name=op.f("ck_data_exports_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_data_exports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
    )
    op.create_index("ix_data_exports_due", "data_exports", ["status", "next_attempt_at"])
    op.create_index(op.f("ix_data_exports_user_id"), "data_exports", ["user_id"])


def downgrade():
    op.drop_index(op.f("ix_data_exports_user_id"), table_name="data_exports")
    op.drop_index("ix_data_exports_due", table_name="data_exports")
    op.drop_table("data_exports")
