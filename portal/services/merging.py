"""Merging duplicates, in detail: finding the idea to keep, what a merge moves, and undoing it.

portal.services.pipeline merges and unmerges (the stage change, the note to followers, the
audit); this module moves the votes and follows and keeps a record of each (IdeaMerge,
MergedVote, MergedFollow), so that unmerging puts back exactly what the merge took.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, update
from sqlalchemy.orm import aliased, selectinload

from portal.extensions import db
from portal.models import (
    MERGED_SLUG,
    Audience,
    Board,
    Follow,
    Idea,
    IdeaMerge,
    IdeaOrganisation,
    MergedFollow,
    MergedVote,
    Organisation,
    Stage,
    User,
    Vote,
)
from portal.services import search, trending, votes
from portal.services.text import and_list

SUGGESTION_LIMIT = 5
RESULT_LIMIT = 20


# --- Finding the idea to keep -----------------------------------------------------------


@dataclass
class Candidate:
    """An idea the duplicate could be merged into, and why it is offered."""

    idea: Idea
    reasons: list[str] = field(default_factory=list)


def _may_keep(source: Idea) -> list[ColumnElement[bool]]:
    """Ideas a duplicate may be merged into: public, not merged, not the duplicate itself, and
    on the duplicate's board or a public one, so its voters and followers may see where their
    votes went."""
    merged_stage = select(Stage.id).where(Stage.slug == MERGED_SLUG).scalar_subquery()
    public_boards = select(Board.id).where(Board.audience == Audience.PUBLIC.value)
    return [
        Idea.id != source.id,
        or_(Idea.board_id == source.board_id, Idea.board_id.in_(public_boards)),
        Idea.hidden_at.is_(None),
        Idea.awaiting_approval.is_(False),
        Idea.merged_into_id.is_(None),
        Idea.stage_id != merged_stage,
    ]


def suggested_targets(
    source: Idea, *, viewer: Any, limit: int = SUGGESTION_LIMIT
) -> list[Candidate]:
    """Likely originals of this duplicate, best first: ideas with similar words, and ideas
    wanted by people from the organisations that want this one.

    Each comes with its reasons, in words ("Similar words", "Also wanted by Acme, Globex").
    """
    found: dict[int, Candidate] = {}
    for idea in _similar(source, viewer=viewer, limit=limit):
        found[idea.id] = Candidate(idea, ["Similar words"])
    # Similar text first, best first; then ideas only the same organisations link, a few.
    room = max(limit - len(found), limit // 2)
    for idea, names in _shared_organisations(source, limit=limit):
        reason = "Also wanted by people from " + and_list(names, most=3)
        if idea.id in found:
            found[idea.id].reasons.append(reason)
        elif room > 0:
            found[idea.id] = Candidate(idea, [reason])
            room -= 1
    return list(found.values())


def _similar(source: Idea, *, viewer: Any, limit: int) -> list[Idea]:
    """Ideas sharing words with the duplicate's title (the search service's duplicate finder,
    which already leaves hidden ideas out), less those it may not be merged into."""
    found = search.similar_ideas(source.title, viewer=viewer, limit=limit * 2, exclude_id=source.id)
    if not found:
        return []
    allowed = set(
        db.session.scalars(
            select(Idea.id).where(Idea.id.in_([i.id for i in found]), *_may_keep(source))
        )
    )
    return [idea for idea in found if idea.id in allowed][:limit]


def _shared_organisations(source: Idea, *, limit: int) -> list[tuple[Idea, list[str]]]:
    """Ideas voted for by people of the organisations behind source, most shared first."""
    mine = select(IdeaOrganisation.organisation_id).where(IdeaOrganisation.idea_id == source.id)
    shared = (
        select(IdeaOrganisation.idea_id, func.count().label("shared"))
        .where(IdeaOrganisation.organisation_id.in_(mine))
        .group_by(IdeaOrganisation.idea_id)
        .subquery()
    )
    ideas = list(
        db.session.scalars(
            select(Idea)
            .join(shared, shared.c.idea_id == Idea.id)
            .where(*_may_keep(source))
            .order_by(shared.c.shared.desc(), Idea.vote_count.desc(), Idea.id.desc())
            .limit(limit)
        )
    )
    if not ideas:
        return []
    names: dict[int, list[str]] = {idea.id: [] for idea in ideas}
    rows = db.session.execute(
        select(IdeaOrganisation.idea_id, Organisation.name)
        .join(Organisation, Organisation.id == IdeaOrganisation.organisation_id)
        .where(
            IdeaOrganisation.idea_id.in_(names),
            IdeaOrganisation.organisation_id.in_(mine),
        )
        .order_by(Organisation.name)
    )
    for idea_id, name in rows:
        names[idea_id].append(name)
    return [(idea, names[idea.id]) for idea in ideas]


@dataclass
class TargetSearch:
    query: str
    ideas: list[Idea]
    total: int


def search_targets(
    source: Idea, query: str, *, viewer: Any, limit: int = RESULT_LIMIT
) -> TargetSearch:
    """Ideas this duplicate may be merged into whose text matches every word of `query`, best
    first; titles weigh most. A number ("42" or "#42") finds that idea too."""
    query = (query or "").strip()[:200]
    if not query:
        return TargetSearch(query, [], 0)
    matches = search.matching_idea_ids(query, viewer=viewer)
    conditions = _may_keep(source)
    stmt = (
        select(Idea, func.count().over())
        .join(matches, matches.c.idea_id == Idea.id)
        .where(*conditions)
        .order_by(matches.c.rank.desc(), Idea.id.desc())
        .limit(limit)
    )
    rows = db.session.execute(stmt).all()
    found = [row[0] for row in rows]
    total = int(rows[0][1]) if rows else 0
    number = query.removeprefix("#")
    if number.isdigit() and len(number) < 10:
        by_number = db.session.scalar(select(Idea).where(Idea.id == int(number), *conditions))
        if by_number is not None and by_number not in found:
            found.insert(0, by_number)
            total += 1
    return TargetSearch(query, found, total)


def mergeable_target(source: Idea, target_id: int) -> Idea | None:
    """The idea with this number if source may be merged into it, else None."""
    return db.session.scalar(select(Idea).where(Idea.id == target_id, *_may_keep(source)))


# --- What a merge would move --------------------------------------------------------------


@dataclass(frozen=True)
class MergePreview:
    """What merging source into target would do, in numbers, for the confirm step."""

    votes_moving: int  # counted votes the kept idea gains
    voted_both: int  # people whose vote counts once: they voted for both
    followers_moving: int  # people who follow the duplicate and not yet the kept idea
    target_votes_after: int
    comments_staying: int


def preview(source: Idea, target: Idea) -> MergePreview:
    source_vote, target_vote = aliased(Vote), aliased(Vote)
    counted_here = select(source_vote.user_id).where(
        source_vote.idea_id == source.id, source_vote.hidden_at.is_(None)
    )
    counted_there = select(target_vote.user_id).where(
        target_vote.idea_id == target.id, target_vote.hidden_at.is_(None)
    )
    source_votes = db.session.scalar(select(func.count()).select_from(counted_here.subquery()))
    both = db.session.scalar(
        select(func.count()).where(
            Vote.idea_id == target.id,
            Vote.hidden_at.is_(None),
            Vote.user_id.in_(counted_here),
        )
    )
    target_follow = aliased(Follow)
    followers = db.session.scalar(
        select(func.count()).where(
            Follow.idea_id == source.id,
            Follow.user_id.not_in(
                select(target_follow.user_id).where(target_follow.idea_id == target.id)
            ),
        )
    )
    target_votes = db.session.scalar(select(func.count()).select_from(counted_there.subquery()))
    moving = (source_votes or 0) - (both or 0)
    return MergePreview(
        votes_moving=moving,
        voted_both=both or 0,
        followers_moving=followers or 0,
        target_votes_after=(target_votes or 0) + moving,
        comments_staying=source.comment_count,
    )


# --- Merging and unmerging ------------------------------------------------------------------


def move_everything(
    source: Idea, target: Idea, *, actor: User, note: str, now: datetime
) -> IdeaMerge:
    """Move source's votes and followers to target, recording each, and recount both ideas.

    A person who voted for both counts once; their vote on the duplicate is removed with
    the others, and recorded, so unmerging gives it back. A hidden vote moves hidden; a
    counted vote on the duplicate replaces a hidden one on the kept idea (recorded too).
    """
    merge = IdeaMerge(
        source_id=source.id,
        target_id=target.id,
        actor_id=actor.id,
        note=note,
        created_at=now,
        source_stage_id=source.stage_id,
        source_first_response_at=source.first_response_at,
        source_response_due_at=source.response_due_at,
    )
    db.session.add(merge)
    db.session.flush()
    gained = _move_votes(merge, source, target)
    _move_followers(merge, source, target, now=now)
    merge.votes_moved = len(gained)
    merge.trending_gained = math.fsum(gained)
    db.session.execute(
        update(Idea)
        .where(Idea.id == target.id)
        .values(trending_score=Idea.trending_score + merge.trending_gained, last_activity_at=now)
    )
    _recount(source, target)
    db.session.execute(update(Idea).where(Idea.id == source.id).values(merged_into_id=target.id))
    return merge


# A voter: a person, or an organisation whose vote the team added without naming anyone.
Voter = tuple[int | None, int | None]  # (user_id, organisation_id)

# What a vote the team added carries (portal.services.on_behalf); it moves, and comes back, with
# the vote.
ON_BEHALF = ("source", "added_by_id", "quote")


def _voter(row: Any) -> Voter:
    return (row.user_id, None) if row.user_id is not None else (None, row.organisation_id)


def _votes_by_voter(idea_id: int) -> dict[Voter, tuple[datetime, datetime | None]]:
    rows = db.session.execute(
        select(Vote.user_id, Vote.organisation_id, Vote.created_at, Vote.hidden_at).where(
            Vote.idea_id == idea_id
        )
    )
    return {_voter(row): (row.created_at, row.hidden_at) for row in rows}


def _of_voter(voter: Voter) -> ColumnElement[bool]:
    user_id, organisation_id = voter
    if user_id is not None:
        return Vote.user_id == user_id
    return Vote.user_id.is_(None) & (Vote.organisation_id == organisation_id)


def _delete_votes(idea_id: int, voters: list[Voter]) -> None:
    people = [u for u, _ in voters if u is not None]
    organisations = [o for u, o in voters if u is None and o is not None]
    if people:
        db.session.execute(delete(Vote).where(Vote.idea_id == idea_id, Vote.user_id.in_(people)))
    if organisations:
        db.session.execute(
            delete(Vote).where(
                Vote.idea_id == idea_id,
                Vote.user_id.is_(None),
                Vote.organisation_id.in_(organisations),
            )
        )


def _move_votes(merge: IdeaMerge, source: Idea, target: Idea) -> list[float]:
    """Copy source's votes to target as described in move_everything; the trending weight of
    each counted vote target gains. A vote the team added moves with where it came from."""
    source_votes = db.session.execute(
        select(
            Vote.user_id,
            Vote.organisation_id,
            Vote.created_at,
            Vote.hidden_at,
            *(getattr(Vote, name) for name in ON_BEHALF),
        )
        .where(Vote.idea_id == source.id)
        .order_by(Vote.id)
    ).all()
    if not source_votes:
        return []
    theirs = _votes_by_voter(target.id)
    records: list[dict[str, Any]] = []
    copies: list[dict[str, Any]] = []
    replaced: list[Voter] = []
    gained: list[float] = []
    for row in source_votes:
        voter = _voter(row)
        vote = {"user_id": voter[0], "organisation_id": voter[1], "created_at": row.created_at,
                "hidden_at": row.hidden_at}  # fmt: skip
        vote |= {name: getattr(row, name) for name in ON_BEHALF}
        record = {"merge_id": merge.id, "copied": False, "replaced_created_at": None,
                  "replaced_hidden_at": None} | vote  # fmt: skip
        existing = theirs.get(voter)
        if existing is not None and existing[1] is not None and row.hidden_at is None:
            record |= {"replaced_created_at": existing[0], "replaced_hidden_at": existing[1]}
            replaced.append(voter)
            existing = None
        if existing is None:
            record["copied"] = True
            copies.append({"idea_id": target.id} | vote)
            if row.hidden_at is None:
                gained.append(trending.weight_at(trending.VOTE_WEIGHT, row.created_at))
        records.append(record)
    _delete_votes(target.id, replaced)
    db.session.execute(insert(MergedVote), records)
    if copies:
        db.session.execute(insert(Vote), copies)
    db.session.execute(delete(Vote).where(Vote.idea_id == source.id))
    return gained


def _move_followers(merge: IdeaMerge, source: Idea, target: Idea, *, now: datetime) -> None:
    """Everyone following source and not target follows target too, from now (recorded)."""
    target_follow = aliased(Follow)
    moving = db.session.execute(
        select(Follow.user_id, Follow.via_vote).where(
            Follow.idea_id == source.id,
            Follow.user_id.not_in(
                select(target_follow.user_id).where(target_follow.idea_id == target.id)
            ),
        )
    ).all()
    if not moving:
        return
    db.session.execute(
        insert(Follow),
        [
            # the vote moves too: withdrawing it on the kept idea ends the follow
            {"idea_id": target.id, "user_id": u, "created_at": now, "via_vote": via_vote}
            for u, via_vote in moving
        ],
    )
    db.session.execute(
        insert(MergedFollow),
        [{"merge_id": merge.id, "user_id": u, "via_vote": via_vote} for u, via_vote in moving],
    )


def _recount(*ideas: Idea) -> None:
    ids = [idea.id for idea in ideas]
    votes.recount_votes(select(Idea.id).where(Idea.id.in_(ids)))
    votes.recount_organisations(ids)


class CannotUnmerge(Exception):
    """Why a merge cannot be undone, in words for the team."""


def active_merge(source: Idea) -> IdeaMerge | None:
    """The merge that made this idea a duplicate, if it is still in force."""
    if source.merged_into_id is None:
        return None
    return db.session.scalar(
        select(IdeaMerge)
        .where(IdeaMerge.source_id == source.id, IdeaMerge.undone_at.is_(None))
        .order_by(IdeaMerge.id.desc())
        .limit(1)
    )


def check_undoable(merge: IdeaMerge | None, source: Idea) -> IdeaMerge:
    """The merge to undo, or CannotUnmerge saying why it cannot be."""
    if merge is None or source.merged_into_id != merge.target_id:
        raise CannotUnmerge(f"“{source.title}” is not merged into another idea.")
    if not merge.undoable:
        raise CannotUnmerge(
            "This merge was made before the portal recorded what merges move, so it cannot "
            "be undone exactly."
        )
    kept = db.session.execute(
        select(Idea.merged_into_id, Idea.title).where(Idea.id == merge.target_id)
    ).one()
    if kept.merged_into_id is not None:
        raise CannotUnmerge(
            f"“{kept.title}”, the idea this one was merged into, was itself merged since. "
            "Unmerge that first, then this one."
        )
    return merge


def restore_everything(merge: IdeaMerge, source: Idea, target: Idea, *, now: datetime) -> int:
    """Give source back the votes and followers the merge moved; returns how many of the
    votes it gets back count (a hidden one comes back hidden).

    A person who withdrew their vote from the kept idea since does not get it back on the
    duplicate either: they took it back. A person who voted again on the kept idea after
    withdrawing keeps that vote there. Follows the merge added go, unless the person chose to
    follow the kept idea since (their follow no longer depends on a vote).
    """
    records = db.session.scalars(
        select(MergedVote).where(MergedVote.merge_id == merge.id).order_by(MergedVote.id)
    ).all()
    theirs = _votes_by_voter(target.id) if records else {}
    back: list[dict[str, Any]] = []
    remove: list[Voter] = []
    put_back: list[dict[str, Any]] = []
    removed_weight: list[float] = []
    for r in records:
        voter = _voter(r)
        now_there = theirs.get(voter)
        if now_there is None:
            continue  # withdrawn from the kept idea since the merge
        created_there, hidden_there = now_there
        ours = r.copied and created_there == r.created_at
        who = {"user_id": r.user_id, "organisation_id": r.organisation_id}
        back.append({"idea_id": source.id, **who, "created_at": r.created_at,
                     "hidden_at": hidden_there if ours else r.hidden_at}
                    | {name: getattr(r, name) for name in ON_BEHALF})  # fmt: skip
        if ours:
            remove.append(voter)
            if hidden_there is None:
                removed_weight.append(trending.weight_at(trending.VOTE_WEIGHT, r.created_at))
            if r.replaced_created_at is not None:
                put_back.append({"idea_id": target.id, **who,
                                 "created_at": r.replaced_created_at,
                                 "hidden_at": r.replaced_hidden_at})  # fmt: skip
    _delete_votes(target.id, remove)
    if put_back:
        db.session.execute(insert(Vote), put_back)
    if back:
        db.session.execute(insert(Vote), back)
    removed_people = {u for u, _ in remove if u is not None}
    still_voting = {b["user_id"] for b in back if b["user_id"] is not None} - removed_people
    _restore_followers(merge, target, keep=still_voting)
    db.session.execute(
        update(Idea)
        .where(Idea.id == target.id)
        .values(trending_score=Idea.trending_score - math.fsum(removed_weight))
    )
    db.session.execute(update(Idea).where(Idea.id == source.id).values(merged_into_id=None))
    _recount(source, target)
    merge.undone_at = now
    return sum(1 for vote in back if vote["hidden_at"] is None)


def _restore_followers(merge: IdeaMerge, target: Idea, *, keep: set[int]) -> None:
    """Remove the follows the merge gave target, as they were given (see restore_everything)."""
    for via_vote in (True, False):
        people = select(MergedFollow.user_id).where(
            MergedFollow.merge_id == merge.id, MergedFollow.via_vote.is_(via_vote)
        )
        db.session.execute(
            delete(Follow).where(
                Follow.idea_id == target.id,
                Follow.user_id.in_(people),
                Follow.user_id.not_in(keep) if keep else Follow.user_id.is_not(None),
                Follow.via_vote.is_(via_vote),
            )
        )


# --- What pages show ------------------------------------------------------------------------


def merged_into_this(target: Idea) -> list[IdeaMerge]:
    """The duplicates merged into this idea (merges still in force), oldest first, each with
    its duplicate loaded: the kept idea's timeline lists them with their text."""
    return list(
        db.session.scalars(
            select(IdeaMerge)
            .where(IdeaMerge.target_id == target.id, IdeaMerge.undone_at.is_(None))
            .options(selectinload(IdeaMerge.source))
            .order_by(IdeaMerge.created_at, IdeaMerge.id)
        )
    )


def votes_moved(source: Idea) -> int | None:
    """How many votes a merged idea handed to the idea it was merged into, if known."""
    merge = active_merge(source)
    return merge.votes_moved if merge is not None else None
