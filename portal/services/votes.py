"""Voting and following: idempotent, exact under concurrency, counters kept in SQL."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Select, delete, func, insert, select, update

from portal.database import insert_ignoring_duplicates, rows_affected, upsert
from portal.extensions import db
from portal.models import Follow, Idea, IdeaOrganisation, User, Vote
from portal.models.types import utcnow
from portal.permissions import is_signed_in, require
from portal.services import trending
from portal.services.errors import DomainError


class VotingClosed(DomainError):
    def __init__(self) -> None:
        super().__init__("Voting is closed on this idea. The votes it had still count.")


def cast_vote(idea: Idea, user: User) -> bool:
    """Vote for an idea (and follow it). Voting twice is one vote. True if a vote was added."""
    require(is_signed_in(user))
    if not idea.voting_open:
        raise VotingClosed
    now = utcnow()
    added = insert_ignoring_duplicates(Vote, idea_id=idea.id, user_id=user.id, created_at=now)
    if added:
        db.session.execute(
            update(Idea)
            .where(Idea.id == idea.id)
            .values(
                vote_count=Idea.vote_count + 1,
                trending_score=Idea.trending_score + trending.weight_at(trending.VOTE_WEIGHT, now),
            )
        )
        if user.organisation_id is not None:
            stmt = upsert(IdeaOrganisation).values(
                idea_id=idea.id, organisation_id=user.organisation_id, voters=1
            )
            db.session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["idea_id", "organisation_id"],
                    set_={"voters": IdeaOrganisation.voters + 1},
                )
            )
    follow(idea, user)
    return added


def withdraw_vote(idea: Idea, user: User) -> bool:
    """Take a vote back. True if there was one."""
    require(is_signed_in(user))
    if not idea.voting_open:
        raise VotingClosed
    cast_at = db.session.scalar(
        delete(Vote)
        .where(Vote.idea_id == idea.id, Vote.user_id == user.id)
        .returning(Vote.created_at)
    )
    if cast_at is None:
        return False
    db.session.execute(
        update(Idea)
        .where(Idea.id == idea.id)
        .values(
            vote_count=Idea.vote_count - 1,
            trending_score=Idea.trending_score - trending.weight_at(trending.VOTE_WEIGHT, cast_at),
        )
    )
    if user.organisation_id is not None:
        mine = (IdeaOrganisation.idea_id == idea.id) & (
            IdeaOrganisation.organisation_id == user.organisation_id
        )
        db.session.execute(
            update(IdeaOrganisation).where(mine).values(voters=IdeaOrganisation.voters - 1)
        )
        db.session.execute(delete(IdeaOrganisation).where(mine, IdeaOrganisation.voters == 0))
    return True


def recount_organisations(idea_ids: Collection[int] | Select[int]) -> None:
    """Count again, from the votes, the organisations behind these ideas (a list or a select of
    ids): after votes move in a merge, or a voter moves to another organisation."""
    db.session.execute(delete(IdeaOrganisation).where(IdeaOrganisation.idea_id.in_(idea_ids)))
    db.session.execute(
        insert(IdeaOrganisation).from_select(
            ["idea_id", "organisation_id", "voters"],
            select(Vote.idea_id, User.organisation_id, func.count())
            .join(User, User.id == Vote.user_id)
            .where(Vote.idea_id.in_(idea_ids), User.organisation_id.is_not(None))
            .group_by(Vote.idea_id, User.organisation_id),
        )
    )


def has_voted(idea: Idea, user: User) -> bool:
    if not is_signed_in(user):
        return False
    return (
        db.session.scalar(select(Vote.id).where(Vote.idea_id == idea.id, Vote.user_id == user.id))
        is not None
    )


def follow(idea: Idea, user: User) -> bool:
    require(is_signed_in(user))
    return insert_ignoring_duplicates(Follow, idea_id=idea.id, user_id=user.id, created_at=utcnow())


def unfollow(idea: Idea, user: User) -> bool:
    require(is_signed_in(user))
    return (
        rows_affected(delete(Follow).where(Follow.idea_id == idea.id, Follow.user_id == user.id))
        == 1
    )


def is_following(idea: Idea, user: User) -> bool:
    if not is_signed_in(user):
        return False
    return (
        db.session.scalar(
            select(Follow.user_id).where(Follow.idea_id == idea.id, Follow.user_id == user.id)
        )
        is not None
    )
