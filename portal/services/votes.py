"""Voting and following: idempotent, exact under concurrency, counters kept in SQL."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Select, Table, bindparam, delete, func, insert, select, update

from portal.database import insert_ignoring_duplicates, rows_affected, upsert
from portal.extensions import db
from portal.models import Follow, Idea, IdeaOrganisation, User, Vote
from portal.models.types import utcnow
from portal.permissions import is_signed_in, require
from portal.services import trending, webhooks
from portal.services.errors import DomainError


class VotingClosed(DomainError):
    def __init__(self) -> None:
        super().__init__("Voting is closed on this idea. The votes it had still count.")


def cast_vote(idea: Idea, user: User) -> bool:
    """Vote for an idea (and follow it). Voting twice is one vote. True if a vote was added.

    A vote of theirs hidden with their posts counts as no vote: voting again counts it anew.
    The follow it adds is marked as the vote's, so withdrawing the vote takes it away again;
    a follow they had already chosen stays theirs.
    """
    require(is_signed_in(user))
    if not idea.voting_open:
        raise VotingClosed
    now = utcnow()
    added = insert_ignoring_duplicates(
        Vote, idea_id=idea.id, user_id=user.id, created_at=now
    ) or _count_hidden_vote_again(idea, user, now=now)
    if added:
        count_vote(idea, organisation_id=user.organisation_id, cast_at=now)
    follow_with_vote(idea, user, now=now)
    return added


def follow_with_vote(idea: Idea, user: User, *, now: datetime) -> None:
    """The follow a vote brings (unless they follow already): withdrawing the vote ends it."""
    insert_ignoring_duplicates(
        Follow, idea_id=idea.id, user_id=user.id, created_at=now, via_vote=True
    )


def count_vote(idea: Idea, *, organisation_id: int | None, cast_at: datetime) -> None:
    """Count a vote just added: one more vote, its trending weight, its organisation's voter.

    Every kind of vote goes through here: a person's own, one the team added for them, and an
    organisation's (portal.services.on_behalf), so all of them count alike.
    """
    db.session.execute(
        update(Idea)
        .where(Idea.id == idea.id)
        .values(
            vote_count=Idea.vote_count + 1,
            trending_score=Idea.trending_score + trending.weight_at(trending.VOTE_WEIGHT, cast_at),
        )
    )
    if organisation_id is not None:
        stmt = upsert(IdeaOrganisation).values(
            idea_id=idea.id, organisation_id=organisation_id, voters=1
        )
        db.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["idea_id", "organisation_id"],
                set_={"voters": IdeaOrganisation.voters + 1},
            )
        )
    webhooks.vote_counted(idea)


def uncount_vote(idea: Idea, *, organisation_id: int | None, cast_at: datetime) -> None:
    """Take back exactly what count_vote added for a vote cast at cast_at, now removed."""
    db.session.execute(
        update(Idea)
        .where(Idea.id == idea.id)
        .values(
            vote_count=Idea.vote_count - 1,
            trending_score=Idea.trending_score - trending.weight_at(trending.VOTE_WEIGHT, cast_at),
        )
    )
    if organisation_id is not None:
        theirs = (IdeaOrganisation.idea_id == idea.id) & (
            IdeaOrganisation.organisation_id == organisation_id
        )
        db.session.execute(
            update(IdeaOrganisation).where(theirs).values(voters=IdeaOrganisation.voters - 1)
        )
        db.session.execute(delete(IdeaOrganisation).where(theirs, IdeaOrganisation.voters == 0))


def _count_hidden_vote_again(idea: Idea, user: User, *, now: datetime) -> bool:
    """Turn this person's hidden vote on the idea into a vote cast now; True if there was one."""
    return (
        rows_affected(
            update(Vote)
            .where(Vote.idea_id == idea.id, Vote.user_id == user.id, Vote.hidden_at.is_not(None))
            .values(hidden_at=None, created_at=now)
            .execution_options(synchronize_session=False)
        )
        == 1
    )


def withdraw_vote(idea: Idea, user: User) -> bool:
    """Take a vote back, and the follow it brought. True if there was one that counted.

    A follow the person chose (with the Follow button, by posting or commenting) stays.
    A hidden vote is removed too (so restoring their posts will not bring it back), but it
    counted nowhere, so no count changes.
    """
    require(is_signed_in(user))
    if not idea.voting_open:
        raise VotingClosed
    db.session.execute(
        delete(Follow).where(
            Follow.idea_id == idea.id, Follow.user_id == user.id, Follow.via_vote.is_(True)
        )
    )
    removed = db.session.execute(
        delete(Vote)
        .where(Vote.idea_id == idea.id, Vote.user_id == user.id)
        .returning(Vote.created_at, Vote.hidden_at)
    ).one_or_none()
    if removed is None or removed.hidden_at is not None:
        return False
    uncount_vote(idea, organisation_id=user.organisation_id, cast_at=removed.created_at)
    return True


def recount_organisations(idea_ids: Collection[int] | Select[int]) -> None:
    """Count again, from the counted votes, the organisations behind these ideas (a list or a
    select of ids): after votes move in a merge, are hidden or restored, or a voter moves to
    another organisation.

    An organisation's own vote (added by the team, naming no person) counts as one voter.
    """
    organisation = func.coalesce(Vote.organisation_id, User.organisation_id)
    db.session.execute(delete(IdeaOrganisation).where(IdeaOrganisation.idea_id.in_(idea_ids)))
    db.session.execute(
        insert(IdeaOrganisation).from_select(
            ["idea_id", "organisation_id", "voters"],
            select(Vote.idea_id, organisation, func.count())
            .outerjoin(User, User.id == Vote.user_id)
            .where(Vote.idea_id.in_(idea_ids), Vote.hidden_at.is_(None), organisation.is_not(None))
            .group_by(Vote.idea_id, organisation),
        )
    )


def recount_votes(idea_ids: Select[int]) -> None:
    """Set vote_count from the counted votes, in SQL, for the ideas a select of ids names."""
    counted = (
        select(func.count(Vote.id))
        .where(Vote.idea_id == Idea.id, Vote.hidden_at.is_(None))
        .scalar_subquery()
    )
    db.session.execute(
        update(Idea)
        .where(Idea.id.in_(idea_ids))
        .values(vote_count=counted)
        .execution_options(synchronize_session=False)
    )


def hide_votes_of(user: User) -> int:
    """Take every vote of this person out of every count (their posts are being hidden).

    Each idea loses exactly what the votes added: one vote each, their trending weight from
    when they were cast, and their organisation. Returns how many votes were hidden.
    """
    hidden = db.session.execute(
        update(Vote)
        .where(Vote.user_id == user.id, Vote.hidden_at.is_(None))
        .values(hidden_at=utcnow())
        .returning(Vote.idea_id, Vote.created_at)
        .execution_options(synchronize_session=False)
    ).all()
    _recount_after_hiding_or_restoring(user, [(row.idea_id, row.created_at) for row in hidden], -1)
    return len(hidden)


def restore_votes_of(user: User) -> int:
    """Count this person's hidden votes again, where they now are; how many were restored."""
    restored = db.session.execute(
        update(Vote)
        .where(Vote.user_id == user.id, Vote.hidden_at.is_not(None))
        .values(hidden_at=None)
        .returning(Vote.idea_id, Vote.created_at)
        .execution_options(synchronize_session=False)
    ).all()
    _recount_after_hiding_or_restoring(
        user, [(row.idea_id, row.created_at) for row in restored], +1
    )
    return len(restored)


def _recount_after_hiding_or_restoring(
    user: User, changed: list[tuple[int, datetime]], sign: int
) -> None:
    """The counts of the ideas whose votes by user were just hidden (sign -1) or restored (+1).

    vote_count and the organisations are counted again from the votes; the trending score,
    a running sum that cannot be recounted, moves by exactly the votes' weights.
    """
    if not changed:
        return
    weights: dict[int, list[float]] = defaultdict(list)
    for idea_id, cast_at in changed:
        weights[idea_id].append(trending.weight_at(trending.VOTE_WEIGHT, cast_at))
    ideas = Idea.__table__
    assert isinstance(ideas, Table)  # typed as any FROM clause; an executemany needs the Table
    db.session.execute(
        update(ideas)
        .where(ideas.c.id == bindparam("idea"))
        .values(trending_score=ideas.c.trending_score + bindparam("change")),
        [{"idea": idea_id, "change": sign * math.fsum(w)} for idea_id, w in weights.items()],
    )
    voted_for = select(Vote.idea_id).where(Vote.user_id == user.id)
    recount_votes(voted_for)
    recount_organisations(voted_for)


def has_voted(idea: Idea, user: User) -> bool:
    """Whether their vote counts here (a hidden vote is, to everyone, no vote)."""
    if not is_signed_in(user):
        return False
    return (
        db.session.scalar(
            select(Vote.id).where(
                Vote.idea_id == idea.id, Vote.user_id == user.id, Vote.hidden_at.is_(None)
            )
        )
        is not None
    )


def follow(idea: Idea, user: User) -> bool:
    """Follow an idea by choice. True if they did not follow it before.

    A follow that came only with their vote becomes theirs: withdrawing the vote keeps it.
    """
    require(is_signed_in(user))
    if insert_ignoring_duplicates(Follow, idea_id=idea.id, user_id=user.id, created_at=utcnow()):
        return True
    db.session.execute(
        update(Follow)
        .where(Follow.idea_id == idea.id, Follow.user_id == user.id, Follow.via_vote.is_(True))
        .values(via_vote=False)
        .execution_options(synchronize_session=False)
    )
    return False


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
