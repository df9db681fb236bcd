"""What `flask import` brought in from Canny, UserVoice or the portal's own CSV files

Revision ID: h19c5a7e0d1f
Revises: c19e1b00c0de
Create Date: 2026-12-07 19:20:00

"""

import sqlalchemy as sa
from alembic import op

revision = "h19c5a7e0d1f"
down_revision = "c19e1b00c0de"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "import_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "source IN ('own', 'canny', 'uservoice')", name=op.f("ck_import_records_source_known")
        ),
        sa.CheckConstraint(
            "kind IN ('person', 'idea', 'vote', 'comment')",
            name=op.f("ck_import_records_kind_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_records")),
        sa.UniqueConstraint(
            "source",
            "kind",
            "external_id",
            name=op.f("uq_import_records_source_kind_external_id"),
        ),
    )


def downgrade():
    op.drop_table("import_records")
