"""A merge keeps a record of what it moved (votes, follows, the duplicate's stage), so it can be undone

Earlier merges get a record too, so the kept idea lists them, but marked as not undoable: what
they moved was not kept.

Revision ID: a16e0b2c3d41
Revises: a16e0d6f7a83
Create Date: 2026-12-07 09:42:20

"""
import json

import sqlalchemy as sa
from alembic import op

revision = 'a16e0b2c3d41'
down_revision = "a16e0d6f7a83"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('idea_merges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('votes_moved', sa.Integer(), nullable=False),
    sa.Column('trending_gained', sa.Double(), nullable=False),
    sa.Column('source_stage_id', sa.Integer(), nullable=True),
    sa.Column('source_first_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source_response_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undoable', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('undone_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('source_id <> target_id', name=op.f('ck_idea_merges_not_into_itself')),
    sa.CheckConstraint('votes_moved >= 0', name=op.f('ck_idea_merges_votes_moved_not_negative')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_idea_merges_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['source_id'], ['ideas.id'], name=op.f('fk_idea_merges_source_id_ideas'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_stage_id'], ['stages.id'], name=op.f('fk_idea_merges_source_stage_id_stages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['target_id'], ['ideas.id'], name=op.f('fk_idea_merges_target_id_ideas'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['undone_by_id'], ['users.id'], name=op.f('fk_idea_merges_undone_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idea_merges'))
    )
    with op.batch_alter_table('idea_merges', schema=None) as batch_op:
        batch_op.create_index('ix_idea_merges_source', ['source_id', 'created_at'], unique=False)
        batch_op.create_index('ix_idea_merges_target', ['target_id', 'created_at'], unique=False)

    op.create_table('merged_follows',
    sa.Column('merge_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('via_vote', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['merge_id'], ['idea_merges.id'], name=op.f('fk_merged_follows_merge_id_idea_merges'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_merged_follows_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('merge_id', 'user_id', name=op.f('pk_merged_follows'))
    )
    op.create_table('merged_votes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merge_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('hidden_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=True),
    sa.Column('added_by_id', sa.Integer(), nullable=True),
    sa.Column('quote', sa.Text(), nullable=True),
    sa.Column('copied', sa.Boolean(), nullable=False),
    sa.Column('replaced_created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replaced_hidden_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('(user_id IS NULL) <> (organisation_id IS NULL)', name=op.f('ck_merged_votes_person_or_organisation')),
    sa.ForeignKeyConstraint(['merge_id'], ['idea_merges.id'], name=op.f('fk_merged_votes_merge_id_idea_merges'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_merged_votes_user_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_merged_votes_organisation_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_merged_votes_added_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_merged_votes'))
    )
    with op.batch_alter_table('merged_votes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_merged_votes_merge_id'), ['merge_id'], unique=False)
    _record_earlier_merges()


def _record_earlier_merges():
    """One record per idea already merged, from its Merged stage change and its audit entry."""
    bind = op.get_bind()
    merged = bind.execute(sa.text(
        "SELECT i.id, i.merged_into_id, i.last_activity_at FROM ideas i "
        "WHERE i.merged_into_id IS NOT NULL"
    )).all()
    merges = sa.table(
        'idea_merges', sa.column('source_id', sa.Integer), sa.column('target_id', sa.Integer),
        sa.column('actor_id', sa.Integer), sa.column('note', sa.Text),
        # Untyped: copied as stored from stage_changes (SQLite keeps the app's text form).
        sa.column('created_at'), sa.column('votes_moved', sa.Integer),
        sa.column('trending_gained', sa.Float), sa.column('undoable', sa.Boolean),
    )
    for idea_id, into_id, last_activity_at in merged:
        change = bind.execute(sa.text(
            "SELECT c.actor_id, c.note, c.created_at FROM stage_changes c "
            "JOIN stages s ON s.id = c.to_stage_id "
            "WHERE c.idea_id = :idea AND s.slug = 'merged' ORDER BY c.id DESC LIMIT 1"
        ), {"idea": idea_id}).first()
        detail = bind.execute(sa.text(
            "SELECT detail FROM audit_events WHERE action = 'idea.merged' "
            "AND target_type = 'ideas' AND target_id = :idea ORDER BY id DESC LIMIT 1"
        ), {"idea": idea_id}).scalar()
        if isinstance(detail, str):
            detail = json.loads(detail)
        moved = detail.get('votes_moved') if isinstance(detail, dict) else None
        op.execute(merges.insert().values(
            source_id=idea_id, target_id=into_id,
            actor_id=change.actor_id if change else None,
            note=change.note if change else '',
            created_at=change.created_at if change else last_activity_at,
            votes_moved=moved if isinstance(moved, int) and moved >= 0 else 0,
            trending_gained=0.0, undoable=False,
        ))


def downgrade():
    op.drop_table('merged_votes')
    op.drop_table('merged_follows')
    with op.batch_alter_table('idea_merges', schema=None) as batch_op:
        batch_op.drop_index('ix_idea_merges_target')
        batch_op.drop_index('ix_idea_merges_source')
    op.drop_table('idea_merges')
