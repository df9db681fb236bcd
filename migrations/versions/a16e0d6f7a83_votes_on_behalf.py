"""votes the team adds on a customer's behalf: where they came from, who added them, a quote

A product manager hears in a sales call or a support ticket that a customer wants an idea and
records the vote for them. The vote then carries its source, the team member who added it and,
optionally, the customer's words. When no person is named, the vote is an organisation's: it
has no user_id, and at most one exists per organisation and idea.

Revision ID: a16e0d6f7a83
Revises: a16e0a1b2c30
Create Date: 2026-12-07 10:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = 'a16e0d6f7a83'
down_revision = "a16e0a1b2c30"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('organisation_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('added_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('quote', sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_votes_organisation_id_organisations'),
            'organisations',
            ['organisation_id'],
            ['id'],
            ondelete='CASCADE',
        )
        batch_op.create_foreign_key(
            batch_op.f('fk_votes_added_by_id_users'),
            'users',
            ['added_by_id'],
            ['id'],
            ondelete='SET NULL',
        )
        batch_op.create_unique_constraint(
            batch_op.f('uq_votes_idea_id_organisation_id'), ['idea_id', 'organisation_id']
        )
        batch_op.create_index(
            batch_op.f('ix_votes_organisation_id'), ['organisation_id'], unique=False
        )
        batch_op.create_check_constraint(
            'person_or_organisation', '(user_id IS NULL) <> (organisation_id IS NULL)'
        )
        batch_op.create_check_constraint(
            'source_known',
            "source IS NULL OR source IN "
            "('sales_call', 'support_ticket', 'email', 'meeting', 'other')",
        )
        batch_op.create_check_constraint(
            'organisation_vote_has_source', 'organisation_id IS NULL OR source IS NOT NULL'
        )


def downgrade():
    # An organisation's vote names nobody, so it cannot survive user_id becoming required:
    # take it out of the counts it was in, then remove it.
    op.execute(
        "UPDATE ideas SET vote_count = vote_count - ("
        "SELECT count(*) FROM votes WHERE votes.idea_id = ideas.id AND votes.user_id IS NULL) "
        "WHERE id IN (SELECT idea_id FROM votes WHERE user_id IS NULL)"
    )
    op.execute(
        "UPDATE idea_organisations SET voters = voters - 1 WHERE EXISTS ("
        "SELECT 1 FROM votes WHERE votes.idea_id = idea_organisations.idea_id "
        "AND votes.organisation_id = idea_organisations.organisation_id)"
    )
    op.execute("DELETE FROM idea_organisations WHERE voters <= 0")
    op.execute("DELETE FROM votes WHERE user_id IS NULL")
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_votes_organisation_vote_has_source'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_votes_source_known'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_votes_person_or_organisation'), type_='check')
        batch_op.drop_index(batch_op.f('ix_votes_organisation_id'))
        batch_op.drop_constraint(batch_op.f('uq_votes_idea_id_organisation_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_votes_added_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(
            batch_op.f('fk_votes_organisation_id_organisations'), type_='foreignkey'
        )
        batch_op.drop_column('quote')
        batch_op.drop_column('added_by_id')
        batch_op.drop_column('source')
        batch_op.drop_column('organisation_id')
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=False)
