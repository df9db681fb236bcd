"""What each webhook endpoint may receive: what visitors see, or everything the team sees

Revision ID: w19a0d1e2c3e
Revises: h19c5a7e0d1f
Create Date: 2026-12-07 19:50:00

"""

import sqlalchemy as sa
from alembic import op

revision = "w19a0d1e2c3e"
down_revision = "h19c5a7e0d1f"
branch_labels = None
depends_on = None


def upgrade():
    # Every endpoint made so far keeps today's rule: what a visitor who is not signed in sees.
    with op.batch_alter_table("webhook_endpoints") as batch_op:
        batch_op.add_column(
            sa.Column("audience", sa.String(length=16), server_default="public", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_webhook_endpoints_audience_known"), "audience IN ('public', 'team')"
        )


def downgrade():
    with op.batch_alter_table("webhook_endpoints") as batch_op:
        batch_op.drop_constraint(op.f("ck_webhook_endpoints_audience_known"), type_="check")
        batch_op.drop_column("audience")
