"""The team moves ideas through stages and merges duplicates, always telling the followers why."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    MERGED_SLUG,
    NEW_SLUG,
    Board,
    BoardStage,
    Idea,
    IdeaMerge,
    NotificationKind,
    Stage,
    StageChange,
    User,
)
from portal.models.types import utcnow
from portal.permissions import can_triage, require
from portal.services import audit, catalog, ideas, merging, notifications, outcomes, webhooks
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


def stages_for(board: Board) -> list[Stage]:
    """The stages of a board's pipeline: its own when it has chosen some, else every stage."""
    return list(board.stages) or catalog.stages()


def board_pipelines() -> dict[int, frozenset[int]]:
    """The stage ids of each board that has its own pipeline (boards on the shared one are
    absent): read once for a page or a move of many ideas."""
    pipelines: dict[int, set[int]] = {}
    for board_id, stage_id in db.session.execute(select(BoardStage.board_id, BoardStage.stage_id)):
        pipelines.setdefault(board_id, set()).add(stage_id)
    return {board_id: frozenset(ids) for board_id, ids in pipelines.items()}


def in_pipeline(stage: Stage, board_id: int, pipelines: dict[int, frozenset[int]]) -> bool:
    own = pipelines.get(board_id)
    return own is None or stage.id in own


def allowed_targets(idea: Idea) -> list[Stage]:
    """The stages this idea may move to. Merging has its own action, with its own checks.

    A merged idea stays merged: its votes have moved, so taking new ones would strand them.
    An idea on a board with its own pipeline moves only among that board's stages.
    """
    return _allowed(idea, catalog.transitions(), catalog.stages(), board_pipelines())


def _allowed(
    idea: Idea,
    moves: dict[int, set[int]],
    stages: list[Stage],
    pipelines: dict[int, frozenset[int]],
) -> list[Stage]:
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
        and in_pipeline(stage, idea.board_id, pipelines)
    ]


def _refuse_unless_allowed(idea: Idea, to_stage: Stage) -> None:
    if idea.merged_into_id is not None:
        raise InvalidTransition(f"“{idea.title}” was merged into another idea and stays merged.")
    pipelines = board_pipelines()
    if not in_pipeline(to_stage, idea.board_id, pipelines):
        raise InvalidTransition(
            f"“{idea.title}” is on the {idea.board.name} board, whose own pipeline has no "
            f"{to_stage.name} stage. Choose one of its stages, or move the idea to another "
            "board first."
        )
    if to_stage.id not in {s.id for s in allowed_targets(idea)}:
        raise InvalidTransition(
            f"“{idea.title}” cannot move from {idea.stage.name} to {to_stage.name}."
        )


def record_move(idea: Idea, to_stage: Stage, *, actor: User, note: str) -> StageChange:
    """Put the idea in `to_stage` with a timeline entry, for a caller that checked the move."""
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
    _refuse_unless_allowed(idea, to_stage)
    from_stage = idea.stage
    from_name = from_stage.name
    record_move(idea, to_stage, actor=actor, note=note)
    db.session.flush()
    webhooks.idea_moved(idea, from_stage, note=note)
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
    _refuse_unless_allowed(idea, to_stage)
    return record_move(idea, to_stage, actor=actor, note=note)


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


def moves_by_stage() -> dict[str, list[int]]:
    """For each stage and board ("stage-board"), the stages its ideas may move to now (the
    triage page's bulk menu): a board with its own pipeline offers only its stages."""
    moves, stages, pipelines = catalog.transitions(), catalog.stages(), board_pipelines()
    usable = [s for s in stages if not s.retired and not s.is_merged_stage]
    board_ids = db.session.scalars(select(Board.id)).all()
    return {
        f"{stage.id}-{board_id}": [
            t.id
            for t in usable
            if t.id in moves.get(stage.id, set())
            and t.id != stage.id
            and in_pipeline(t, board_id, pipelines)
        ]
        for stage in stages
        for board_id in board_ids
    }


def why_it_stays(
    idea: Idea,
    to_stage: Stage,
    allowed: list[Stage] | None = None,
    pipelines: dict[int, frozenset[int]] | None = None,
) -> str | None:
    """Why this idea cannot move to `to_stage`, said for the person moving it; None if it can."""
    if idea.merged_into_id is not None or idea.stage.is_merged_stage:
        return "it was merged into another idea and stays merged"
    if idea.stage_id == to_stage.id:
        return f"it is in {to_stage.name} already"
    if to_stage.retired:
        return f"{to_stage.name} is retired"
    if not in_pipeline(
        to_stage, idea.board_id, board_pipelines() if pipelines is None else pipelines
    ):
        return f"the {idea.board.name} board's own pipeline has no {to_stage.name} stage"
    if allowed is None:
        allowed = allowed_targets(idea)
    if to_stage.id not in {stage.id for stage in allowed}:
        return f"the pipeline has no move from {idea.stage.name} to {to_stage.name}"
    return None


def plan_move(idea_list: list[Idea], to_stage: Stage | None = None) -> BulkMove:
    """The moves allowed for every one of these ideas and, for a chosen stage, which ideas
    would move and which would stay where they are (the pipeline is read once)."""
    moves, stages, pipelines = catalog.transitions(), catalog.stages(), board_pipelines()
    allowed = {idea.id: _allowed(idea, moves, stages, pipelines) for idea in idea_list}
    common = set.intersection(*({s.id for s in a} for a in allowed.values())) if allowed else set()
    plan = BulkMove(
        ideas=idea_list, targets=[s for s in stages if s.id in common], to_stage=to_stage
    )
    if to_stage is not None:
        for idea in idea_list:
            reason = why_it_stays(idea, to_stage, allowed[idea.id], pipelines)
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


def merge_ideas(source: Idea, target: Idea, *, actor: User, note: str, ip: str | None) -> IdeaMerge:
    """Merge duplicate `source` into `target`, in one transaction.

    The source's votes move to the target (a person who voted for both counts once), its
    followers follow the target, it moves to Merged with a link to the target and takes no
    more votes, and everyone who followed it is told why. Merging into a closed idea still
    moves the votes. What moved is recorded (portal.services.merging), so unmerge_ideas can
    put it all back.

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
    merge = merging.move_everything(source, target, actor=actor, note=note, now=now)
    db.session.refresh(source)
    db.session.refresh(target)
    record_move(source, merged, actor=actor, note=note)
    db.session.flush()
    webhooks.idea_merged(source, target, note=note)
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
        summary=f"Merged “{source.title}” (#{source.id}) into “{target.title}” "
        f"(#{target.id}): {_votes(merge.votes_moved)} moved.",
        votes_moved=merge.votes_moved,
    )
    return merge


def unmerge_ideas(source: Idea, *, actor: User, note: str, ip: str | None) -> IdeaMerge:
    """Undo the merge of `source`, in one transaction: both ideas get back exactly the votes,
    follows and counts they had (see merging.restore_everything for people who acted since),
    the duplicate returns to the stage it was in, and its followers are told why."""
    require(can_triage(actor))
    note = _clean_note(note)
    try:
        merge = merging.check_undoable(merging.active_merge(source), source)
    except merging.CannotUnmerge as exc:
        raise InvalidTransition(str(exc)) from None
    target = db.session.get_one(Idea, merge.target_id)
    back_to = merge.source_stage
    if back_to is None or back_to.retired or back_to.is_merged_stage:
        back_to = catalog.stage_by_slug(NEW_SLUG)
    if back_to is None:
        raise InvalidTransition("There is no stage to return the idea to.")
    now = utcnow()
    restored = merging.restore_everything(merge, source, target, now=now)
    merge.undone_by_id = actor.id
    db.session.refresh(source)
    db.session.refresh(target)
    merged_stage = source.stage
    record_move(source, back_to, actor=actor, note=note)
    db.session.flush()
    webhooks.idea_moved(source, merged_stage, note=note)
    notifications.notify_followers(
        source,
        NotificationKind.STAGE_CHANGE,
        actor=actor,
        message=f"No longer merged into “{target.title}”; back to {back_to.name}: {note}",
    )
    audit.record(
        "idea.unmerged",
        actor=actor,
        ip=ip,
        target=source,
        out_of=target.id,
        summary=f"Unmerged “{source.title}” (#{source.id}) from “{target.title}” "
        f"(#{target.id}): {_votes(restored)} returned; back to {back_to.name}.",
        votes_returned=restored,
    )
    return merge


def _votes(n: int) -> str:
    return f"{n} vote{'' if n == 1 else 's'}"


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


def timeline(idea: Idea) -> list[StageChange]:
    """The idea's stage changes, oldest first: its page's timeline and its feed's entries."""
    return list(
        db.session.scalars(
            select(StageChange)
            .where(StageChange.idea_id == idea.id)
            .order_by(StageChange.created_at, StageChange.id)
        ).unique()
    )
