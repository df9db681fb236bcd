"""ideas know when the team's next answer is due

Revision ID: 1dc57ba9d1a8
Revises: caad5a898bc1
Create Date: 2026-11-27 08:29:26.130632

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1dc57ba9d1a8'
down_revision = 'caad5a898bc1'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("ideas", sa.Column("response_due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_ideas_response_due_at", "ideas", ["response_due_at"], unique=False)
    _backfill()


def _backfill():
    """Open ideas are due their stage's commitment after the last stage change or team reply."""
    from datetime import UTC, timedelta

    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT ideas.id, ideas.created_at, ideas.is_team_concept, stages.response_days, "
            "(SELECT max(created_at) FROM stage_changes WHERE idea_id = ideas.id), "
            "(SELECT max(c.created_at) FROM comments c JOIN users u ON u.id = c.author_id "
            " WHERE c.idea_id = ideas.id AND u.role IN ('product_manager', 'admin') "
            " AND c.deleted_at IS NULL AND c.hidden_at IS NULL) "
            "FROM ideas JOIN stages ON stages.id = ideas.stage_id "
            "WHERE stages.is_closed = :closed AND stages.response_days IS NOT NULL"
        ),
        {"closed": False},
    ).all()
    for idea_id, created_at, concept, days, changed_at, replied_at in rows:
        answers = [_aware(t) for t in (changed_at, replied_at) if t is not None]
        if concept and not answers:
            continue  # the team's own concept owes nobody an answer
        base = max([_aware(created_at), *answers])
        due = base + timedelta(days=days)
        if bind.dialect.name == "sqlite":
            due = due.astimezone(UTC).replace(tzinfo=None)
        bind.execute(
            sa.text("UPDATE ideas SET response_due_at = :due WHERE id = :id"),
            {"due": due, "id": idea_id},
        )


def _aware(value):
    from datetime import UTC, datetime

    if isinstance(value, str):  # SQLite hands back text for a raw SELECT
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def downgrade():
    op.drop_index("ix_ideas_response_due_at", table_name="ideas")
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite 3.35+): a batch rebuild would drop the search triggers.
        op.execute("ALTER TABLE ideas DROP COLUMN response_due_at")
    else:
        op.drop_column("ideas", "response_due_at")
