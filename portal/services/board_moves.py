"""Moving an idea to another board: what it changes, who newly sees it, and telling followers.

The audience rule itself is portal.visibility's; this module only asks it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, not_, select

from portal import visibility
from portal.extensions import db
from portal.models import Board, Follow, Idea, NotificationKind, Stage, User
from portal.permissions import can_triage, require
from portal.services import audit, boards, ideas, notifications, pipeline, webhooks
from portal.services.errors import InvalidInput
from portal.services.pipeline import InvalidTransition
from portal.services.validation import long_text, too_long

NOTE_MAX = pipeline.NOTE_MAX


@dataclass(frozen=True)
class BoardMove:
    """What a move did, for the message shown to the person who made it."""

    idea: Idea
    from_board: Board
    to_board: Board
    # The category's name when the new board does not file ideas under it (it was cleared).
    category_cleared: str | None = None
    # The stage it moved to with it, when the new board's pipeline lacked its old stage.
    new_stage: Stage | None = None


@dataclass(frozen=True)
class MovePreview:
    """Shown before a move that lets more people see the idea."""

    widening: boards.Widening
    # Followers who see it today and would not on the new board (they are not told).
    followers_losing_sight: int


def target_boards(idea: Idea) -> list[Board]:
    """The boards this idea may move to: every board but its own, in the admins' order."""
    return [b for b in boards.all_boards() if b.id != idea.board_id]


def stage_choices(to_board: Board) -> list[Stage]:
    """The stages an idea may take when it moves to this board: its pipeline's open ones."""
    return [s for s in pipeline.stages_for(to_board) if not s.retired and not s.is_merged_stage]


def stage_missing(idea: Idea, to_board: Board) -> bool:
    """Whether the idea's stage is not in the new board's pipeline (a stage must be chosen)."""
    return idea.stage_id not in {s.id for s in pipeline.stages_for(to_board)}


def preview(idea: Idea, to_board: Board) -> MovePreview:
    return MovePreview(
        widening=boards.moving_widens(idea.board, to_board),
        followers_losing_sight=followers_losing_sight(idea, to_board),
    )


def followers_losing_sight(idea: Idea, to_board: Board) -> int:
    """Followers who may see the idea on its board now and could not on `to_board`."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Follow)
            .join(User, User.id == Follow.user_id)
            .where(
                Follow.idea_id == idea.id,
                visibility.recipients_clause(idea.board_id),
                not_(visibility.recipients_clause(to_board.id)),
            )
        )
        or 0
    )


def move_idea(
    idea: Idea,
    to_board: Board,
    *,
    actor: User,
    note: str,
    ip: str | None,
    to_stage: Stage | None = None,
) -> BoardMove:
    """Move an idea to another board, in one transaction (the caller commits once).

    Its category stays if the new board files ideas under it, else it is cleared. Its stage
    must be in the new board's pipeline; if it is not, `to_stage` (one of that pipeline's
    stages) moves it there at the same time. Followers who may still see it are told, with
    the note; those who may not are told nothing, not even the board's name.

    Merged duplicates of the idea keep their board: their page only points here, and the
    idea page already checks that the person may see it before naming it.
    """
    require(can_triage(actor))
    note = long_text(note)
    if len(note) > NOTE_MAX:
        raise InvalidInput(too_long(len(note), NOTE_MAX), field="note")
    from_board = idea.board
    if to_board.id == from_board.id:
        raise InvalidInput(
            f"“{idea.title}” is on the {to_board.name} board already. Choose another board.",
            field="board_id",
        )
    if idea.merged_into_id is not None:
        raise InvalidTransition(
            f"“{idea.title}” was merged into another idea; move the idea it was merged into "
            "instead."
        )
    new_stage = _stage_on(idea, to_board, to_stage)
    category_cleared = None
    allowed = {c.id for c in to_board.categories}
    if idea.category is not None and allowed and idea.category_id not in allowed:
        category_cleared = idea.category.name
        idea.category = None
    said = f"Moved from the {from_board.name} board to the {to_board.name} board"
    if new_stage is not None:
        said += f", and now {new_stage.name}"
        pipeline.record_move(idea, new_stage, actor=actor, note=note or said + ".")
    idea.board = to_board
    ideas.touch(idea)
    db.session.flush()
    notifications.notify_followers(
        idea,
        NotificationKind.BOARD_MOVED,
        actor=actor,
        # Only followers who may see it on its new board are told (portal.visibility).
        message=f"{said}: {note}" if note else said + ".",
    )
    detail: dict[str, str] = {"old": from_board.name, "new": to_board.name}
    if new_stage is not None:
        detail["stage"] = new_stage.name
    if category_cleared is not None:
        detail["category_cleared"] = category_cleared
    audit.record("idea.board_moved", actor=actor, ip=ip, target=idea, **detail)
    webhooks.idea_board_moved(idea, from_board)
    return BoardMove(idea, from_board, to_board, category_cleared, new_stage)


def _stage_on(idea: Idea, to_board: Board, to_stage: Stage | None) -> Stage | None:
    """The stage to move the idea to with the board, or None to keep its own."""
    choices = stage_choices(to_board)
    if to_stage is not None and to_stage.id != idea.stage_id:
        if to_stage.id not in {s.id for s in choices}:
            raise InvalidInput(
                f"The {to_board.name} board's pipeline has no {to_stage.name} stage. "
                "Choose one of the listed stages.",
                field="stage_id",
            )
        return to_stage
    if stage_missing(idea, to_board):
        raise InvalidInput(
            f"“{idea.title}” is at the {idea.stage.name} stage, which the {to_board.name} "
            "board's own pipeline does not have. Choose the stage it moves to on that board.",
            field="stage_id",
        )
    return None
