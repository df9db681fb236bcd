"""The team moves ideas through stages and merges duplicates, always telling the followers why."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, insert, literal, or_, select, update
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.models import (
    MERGED_SLUG,
    Follow,
    Idea,
    NotificationKind,
    Stage,
    StageChange,
    User,
    Vote,
)
from portal.models.types import utcnow
from portal.permissions import can_triage, require
from portal.services import audit, catalog, ideas, notifications, outcomes, trending, votes
from portal.services.errors import DomainError, InvalidInput
from portal.services.validation import long_text, too_long

NOTE_MIN = 20
NOTE_MAX = 5_000


class InvalidTransition(DomainError):
    pass


def _clean_note(note: str) -> str:
    note = long_text(note)
    if len(note) < NOTE_MIN:
        raise InvalidInput(
            f"Write the people following this idea a note of at least {NOTE_MIN} characters: "
            "what the change means for them and what happens next.",
            field="note",
        )
    if len(note) > NOTE_MAX:
        raise InvalidInput(too_long(len(note), NOTE_MAX), field="note")
    return note


def allowed_targets(idea: Idea) -> list[Stage]:
    """The stages this idea may move to. Merging has its own action, with its own checks.

    A merged idea stays merged: its votes have moved, so taking new ones would strand them.
    """
    return _allowed(idea, catalog.transitions(), catalog.stages())


def _allowed(idea: Idea, moves: dict[int, set[int]], stages: list[Stage]) -> list[Stage]:
    """allowed_targets, from the pipeline read once for many ideas."""
    if idea.merged_into_id is not None:
        return []
    allowed = moves.get(idea.stage_id, set())
    return [
        stage
        for stage in stages
        if stage.id in allowed
        and stage.id != idea.stage_id
        and not stage.retired
        and not stage.is_merged_stage
    ]


def _record_move(idea: Idea, to_stage: Stage, *, actor: User, note: str) -> StageChange:
    change = StageChange(
        idea_id=idea.id, from_stage_id=idea.stage_id, to_stage_id=to_stage.id, note=note,
        actor_id=actor.id,
    )  # fmt: skip
    db.session.add(change)
    idea.stage = to_stage
    now = utcnow()
    if idea.first_response_at is None:
        idea.first_response_at = now
    ideas.promise_next_answer(idea, to_stage, since=now)
    ideas.touch(idea)
    return change


def move_stage(idea: Idea, to_stage: Stage, *, actor: User, note: str, ip: str | None) -> None:
    """Move an idea to another stage, with a public note that reaches every follower."""
    require(can_triage(actor))
    note = _clean_note(note)
    if idea.merged_into_id is not None:
        raise InvalidTransition(f"“{idea.title}” was merged into another idea and stays merged.")
    if to_stage.id not in {stage.id for stage in allowed_targets(idea)}:
        raise InvalidTransition(
            f"“{idea.title}” cannot move from {idea.stage.name} to {to_stage.name}."
        )
    from_name = idea.stage.name
    _record_move(idea, to_stage, actor=actor, note=note)
    db.session.flush()
    message = f"Now {to_stage.name}: {note}"
    if to_stage.slug in outcomes.ASKED_STAGES:
        # Closing the loop: the customers, not the team, judge whether it met their need. One
        # message each: the question carries the stage note.
        notifications.notify_closed(idea, actor=actor, message=message)
    else:
        notifications.notify_followers(
            idea, NotificationKind.STAGE_CHANGE, actor=actor, message=message
        )
    audit.record(
        "idea.stage_changed", actor=actor, ip=ip, target=idea, old=from_name, new=to_stage.name
    )


def move_telling_nobody(idea: Idea, to_stage: Stage, *, actor: User, note: str) -> StageChange:
    """Move an idea by the pipeline's rules, for a caller that tells the followers itself.

    A release moves several ideas and tells each follower once, however many of its ideas
    they follow (portal.services.releases); move_stage would tell them once per idea.
    """
    require(can_triage(actor))
    if idea.merged_into_id is not None:
        raise InvalidTransition(f"“{idea.title}” was merged into another idea and stays merged.")
    if to_stage.id not in {stage.id for stage in allowed_targets(idea)}:
        raise InvalidTransition(
            f"“{idea.title}” cannot move from {idea.stage.name} to {to_stage.name}."
        )
    return _record_move(idea, to_stage, actor=actor, note=note)


# --- Moving several ideas at once ------------------------------------------------------------


@dataclass(frozen=True)
class Staying:
    """An idea that a bulk move would leave where it is, and why, in words."""

    idea: Idea
    reason: str


@dataclass
class BulkMove:
    """What moving these ideas to one stage would do, shown before anything moves."""

    ideas: list[Idea]
    # The stages every one of the ideas may move to: what the move offers.
    targets: list[Stage]
    to_stage: Stage | None = None
    moving: list[Idea] = field(default_factory=list)
    staying: list[Staying] = field(default_factory=list)


def moves_by_stage() -> dict[int, list[int]]:
    """For each stage, the stages its ideas may move to now (the triage page's bulk menu)."""
    moves, stages = catalog.transitions(), catalog.stages()
    usable = [s for s in stages if not s.retired and not s.is_merged_stage]
    return {
        stage.id: [t.id for t in usable if t.id in moves.get(stage.id, set()) and t.id != stage.id]
        for stage in stages
    }


def why_it_stays(idea: Idea, to_stage: Stage, allowed: list[Stage] | None = None) -> str | None:
    """Why this idea cannot move to `to_stage`, said for the person moving it; None if it can."""
    if idea.merged_into_id is not None or idea.stage.is_merged_stage:
        return "it was merged into another idea and stays merged"
    if idea.stage_id == to_stage.id:
        return f"it is in {to_stage.name} already"
    if to_stage.retired:
        return f"{to_stage.name} is retired"
    if allowed is None:
        allowed = allowed_targets(idea)
    if to_stage.id not in {stage.id for stage in allowed}:
        return f"the pipeline has no move from {idea.stage.name} to {to_stage.name}"
    return None


def plan_move(idea_list: list[Idea], to_stage: Stage | None = None) -> BulkMove:
    """The moves allowed for every one of these ideas and, for a chosen stage, which ideas
    would move and which would stay where they are (the pipeline is read once)."""
    moves, stages = catalog.transitions(), catalog.stages()
    allowed = {idea.id: _allowed(idea, moves, stages) for idea in idea_list}
    common = set.intersection(*({s.id for s in a} for a in allowed.values())) if allowed else set()
    plan = BulkMove(
        ideas=idea_list, targets=[s for s in stages if s.id in common], to_stage=to_stage
    )
    if to_stage is not None:
        for idea in idea_list:
            reason = why_it_stays(idea, to_stage, allowed[idea.id])
            if reason is None:
                plan.moving.append(idea)
            else:
                plan.staying.append(Staying(idea, reason))
    return plan


def move_many(
    idea_list: list[Idea],
    to_stage: Stage,
    *,
    actor: User,
    note: str,
    ip: str | None,
    leave: Collection[int] = (),
) -> list[Idea]:
    """Move several ideas with one note, all of them or none; returns the ones moved.

    `leave` names ideas the person agreed to leave where they are, having been shown why
    (plan_move). Any other idea that cannot move refuses the whole move, with its title and
    the reason: the pipeline or the ideas may have changed since the plan was shown.
    """
    require(can_triage(actor))
    note = _clean_note(note)
    moving = [idea for idea in idea_list if idea.id not in set(leave)]
    if not moving:
        raise InvalidTransition(f"None of the ideas you ticked can move to {to_stage.name}.")
    plan = plan_move(moving, to_stage)
    stuck = [f"“{s.idea.title}”: {s.reason}" for s in plan.staying]
    if stuck:
        raise InvalidTransition(
            f"Nothing moved, because {len(stuck)} of the ideas cannot move to {to_stage.name}. "
            + "; ".join(stuck)
            + "."
        )
    for idea in moving:
        move_stage(idea, to_stage, actor=actor, note=note, ip=ip)
    return moving


def merge_ideas(source: Idea, target: Idea, *, actor: User, note: str, ip: str | None) -> None:
    """Merge duplicate `source` into `target`, in one transaction.

    The source's votes move to the target (a person who voted for both counts once), its
    followers follow the target, it moves to Merged with a link to the target and takes no
    more votes, and everyone who followed it is told why. Merging into a closed idea still
    moves the votes.

    The kept idea must be one customers can see: merging into a hidden or pending idea would
    tell the followers a title they cannot open and move their votes out of sight. A hidden
    duplicate may be merged into a visible idea (moderators cleaning up): its votes and
    followers move, and nobody is told about the hidden idea (notify_followers says nothing
    about hidden ideas).
    """
    require(can_triage(actor))
    note = _clean_note(note)
    merged = _merged_stage_for(source, target)
    now = utcnow()
    moved = _move_votes(source, target)
    _move_followers(source, target, now=now)
    _count_merged_votes(source, target, moved=moved, now=now)
    db.session.refresh(source)
    db.session.refresh(target)
    _record_move(source, merged, actor=actor, note=note)
    db.session.flush()
    notifications.notify_followers(
        source,
        NotificationKind.MERGED,
        actor=actor,
        message=f"Merged into “{target.title}”: {note}",
    )
    audit.record(
        "idea.merged",
        actor=actor,
        ip=ip,
        target=source,
        into=target.id,
        votes_moved=len(moved),
    )


def _merged_stage_for(source: Idea, target: Idea) -> Stage:
    """The Merged stage, once it is clear that source may be merged into target."""
    merged = catalog.stage_by_slug(MERGED_SLUG)
    if merged is None:
        raise InvalidTransition("There is no Merged stage to move the duplicate to.")
    if source.id == target.id:
        raise InvalidInput("An idea cannot be merged into itself.", field="target_id")
    if source.merged_into_id is not None or source.stage_id == merged.id:
        raise InvalidTransition(f"“{source.title}” has already been merged.")
    _check_target_is_public(target, merged)
    return merged


def _check_target_is_public(target: Idea, merged: Stage) -> None:
    """Refuse a target customers cannot see, judged from its row as it is now, locked.

    The row lock (PostgreSQL; SQLite's write lock is already held) keeps a moderator from
    hiding the target between this check and the merge.
    """
    state = db.session.execute(
        select(Idea.hidden_at, Idea.awaiting_approval, Idea.merged_into_id, Idea.stage_id)
        .where(Idea.id == target.id)
        .with_for_update()
    ).one()
    if state.merged_into_id is not None or state.stage_id == merged.id:
        raise InvalidInput(
            "That idea was itself merged; merge into the idea it was merged into.",
            field="target_id",
        )
    if state.awaiting_approval:
        raise InvalidInput(
            "That idea is still waiting for a moderator's approval, so the people following "
            "this one could not see it. Merge into a public idea, or approve that one first.",
            field="target_id",
        )
    if state.hidden_at is not None:
        raise InvalidInput(
            "That idea is hidden by moderators, so the people following this one could not "
            "see it. Merge into a visible idea, or restore that one first.",
            field="target_id",
        )


# What a vote the team added carries (portal.services.on_behalf); it moves with the vote.
ON_BEHALF_COLUMNS = ("organisation_id", "source", "added_by_id", "quote")


def _move_votes(source: Idea, target: Idea) -> list[datetime]:
    """Copy source's votes to target, once per person; returns when the copied counted ones
    were cast.

    A hidden vote (its voter's posts are hidden) moves hidden, so restoring them counts it
    where it now is. A person's counted vote on source wins over their hidden one on target.
    The source's own votes stay until _count_merged_votes, which counts and removes them.
    """
    # An alias keeps the subqueries from correlating with the outer rows of the same table.
    source_vote = aliased(Vote)
    db.session.execute(
        delete(Vote).where(
            Vote.idea_id == target.id,
            Vote.hidden_at.is_not(None),
            Vote.user_id.in_(
                select(source_vote.user_id).where(
                    source_vote.idea_id == source.id, source_vote.hidden_at.is_(None)
                )
            ),
        )
    )
    target_vote = aliased(Vote)
    # An organisation's vote (added by the team) has no user_id: it moves unless the target
    # has that organisation's vote already. NULLs stay out of the NOT IN lists, or nothing
    # would match at all.
    not_yet_voted = or_(
        Vote.user_id.is_not(None)
        & Vote.user_id.not_in(
            select(target_vote.user_id).where(
                target_vote.idea_id == target.id, target_vote.user_id.is_not(None)
            )
        ),
        Vote.user_id.is_(None)
        & Vote.organisation_id.not_in(
            select(target_vote.organisation_id).where(
                target_vote.idea_id == target.id, target_vote.organisation_id.is_not(None)
            )
        ),
    )
    moved = db.session.scalars(
        select(Vote.created_at).where(
            Vote.idea_id == source.id, not_yet_voted, Vote.hidden_at.is_(None)
        )
    ).all()
    db.session.execute(
        insert(Vote).from_select(
            ["idea_id", "user_id", "created_at", "hidden_at", *ON_BEHALF_COLUMNS],
            select(
                literal(target.id),
                Vote.user_id,
                Vote.created_at,
                Vote.hidden_at,
                *(getattr(Vote, name) for name in ON_BEHALF_COLUMNS),
            ).where(Vote.idea_id == source.id, not_yet_voted),
        )
    )
    return list(moved)


def _move_followers(source: Idea, target: Idea, *, now: datetime) -> None:
    """Everyone following source follows target too, from now."""
    target_follow = aliased(Follow)
    db.session.execute(
        insert(Follow).from_select(
            ["idea_id", "user_id", "created_at", "via_vote"],
            select(
                literal(target.id),
                Follow.user_id,
                literal(now, Follow.created_at.type),
                Follow.via_vote,  # the vote moves too: withdrawing it there ends the follow
            ).where(
                Follow.idea_id == source.id,
                Follow.user_id.not_in(
                    select(target_follow.user_id).where(target_follow.idea_id == target.id)
                ),
            ),
        )
    )


def _count_merged_votes(
    source: Idea, target: Idea, *, moved: list[datetime], now: datetime
) -> None:
    """Recount target's votes and trend with the moved ones; source keeps none, and is merged."""
    gained = sum(trending.weight_at(trending.VOTE_WEIGHT, when) for when in moved)
    db.session.execute(
        update(Idea)
        .where(Idea.id == target.id)
        .values(
            vote_count=select(func.count(Vote.id))
            .where(Vote.idea_id == target.id, Vote.hidden_at.is_(None))
            .scalar_subquery(),
            trending_score=Idea.trending_score + gained,
            last_activity_at=now,
        )
    )
    db.session.execute(delete(Vote).where(Vote.idea_id == source.id))
    votes.recount_organisations([source.id, target.id])
    db.session.execute(
        update(Idea).where(Idea.id == source.id).values(vote_count=0, merged_into_id=target.id)
    )


def timeline(idea: Idea) -> list[StageChange]:
    """The idea's stage changes, oldest first: its page's timeline and its feed's entries."""
    return list(
        db.session.scalars(
            select(StageChange)
            .where(StageChange.idea_id == idea.id)
            .order_by(StageChange.created_at, StageChange.id)
        ).unique()
    )
