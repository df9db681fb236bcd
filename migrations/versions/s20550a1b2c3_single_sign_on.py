"""Single sign-on: OpenID Connect providers, linked outside identities, identify tokens used,
and how each signed-in session began

Revision ID: s20550a1b2c3
Revises: t20f0a1b2c3d
Create Date: 2026-12-07 22:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "s20550a1b2c3"
down_revision = "t20f0a1b2c3d"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sso_providers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("discovery_url", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("client_secret", sa.String(length=500), nullable=False),
        sa.Column("scopes", sa.String(length=255), nullable=False),
        sa.Column("role_claim", sa.String(length=100), server_default="", nullable=False),
        sa.Column("role_mapping", sa.Text(), server_default="", nullable=False),
        sa.Column("forced_domains", sa.Text(), server_default="", nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sso_providers")),
        sa.UniqueConstraint("slug", name=op.f("uq_sso_providers_slug")),
    )
    op.create_table(
        "external_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_external_identities_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_identities")),
        sa.UniqueConstraint(
            "provider", "subject", name=op.f("uq_external_identities_provider_subject")
        ),
    )
    with op.batch_alter_table("external_identities") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_external_identities_user_id"), ["user_id"], unique=False
        )
    op.create_table(
        "identify_token_uses",
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_identify_token_uses")),
    )
    with op.batch_alter_table("identify_token_uses") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identify_token_uses_expires_at"), ["expires_at"], unique=False
        )
    with op.batch_alter_table("user_sessions") as batch_op:
        batch_op.add_column(sa.Column("method", sa.String(length=50), nullable=True))


def downgrade():
    with op.batch_alter_table("user_sessions") as batch_op:
        batch_op.drop_column("method")
    with op.batch_alter_table("identify_token_uses") as batch_op:
        batch_op.drop_index(batch_op.f("ix_identify_token_uses_expires_at"))
    op.drop_table("identify_token_uses")
    with op.batch_alter_table("external_identities") as batch_op:
        batch_op.drop_index(batch_op.f("ix_external_identities_user_id"))
    op.drop_table("external_identities")
    op.drop_table("sso_providers")
