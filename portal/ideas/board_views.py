"""The team moves an idea to another board: choose the board (and a stage when its pipeline
lacks the idea's), see who would newly see it when the move widens its audience, move."""

from __future__ import annotations

from flask import flash, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.forms import handle_submission
from portal.ideas import bp
from portal.ideas.common import idea_or_404
from portal.ideas.forms import BoardMoveForm
from portal.models import Board, Idea, Stage
from portal.permissions import can_triage
from portal.services import board_moves
from portal.services.errors import InvalidInput
from portal.web import client_ip, role_required


def _choose_page(
    idea: Idea, form: BoardMoveForm, to_board: Board | None, status: int = 200
) -> ResponseReturnValue:
    """The form; with a stage menu once the chosen board's pipeline lacks the idea's stage."""
    if to_board is not None and (form.stage_id.data or board_moves.stage_missing(idea, to_board)):
        form.stage_id.choices = {str(s.id): s.name for s in board_moves.stage_choices(to_board)}
    page = render_template("ideas/board_move.html", idea=idea, form=form, to_board=to_board)
    return page, status


def _stage(to_board: Board | None, value: str | None) -> Stage | None:
    if to_board is None or not value:
        return None
    return next((s for s in board_moves.stage_choices(to_board) if str(s.id) == value), None)


@bp.route("/ideas/<id:idea_id>/board", methods=["GET", "POST"])
@role_required(can_triage)
def move_board(idea_id: int) -> ResponseReturnValue:
    """GET: choose the board. POST: move at once, or first show who would newly see the idea
    (the review page carries the choices in its form, so it works without JavaScript)."""
    idea = idea_or_404(idea_id)
    targets = board_moves.target_boards(idea)
    form = BoardMoveForm(formdata=request.form if request.method == "POST" else None)
    form.board_id.choices = {str(b.id): b.name for b in targets}
    to_board = next((b for b in targets if str(b.id) == form.board_id.data), None)
    if request.method == "GET" or "back" in request.form:
        return _choose_page(idea, form, to_board)
    stage = _stage(to_board, form.stage_id.data)
    if to_board is not None and not form.confirmed.data and form.validate_on_submit():
        stage_ok = stage is not None or not board_moves.stage_missing(idea, to_board)
        preview = board_moves.preview(idea, to_board) if stage_ok else None
        if preview is not None and preview.widening.anyone:
            return render_template(
                "ideas/board_move_review.html", idea=idea, form=form, to_board=to_board,
                stage=stage, preview=preview,
            )  # fmt: skip

    def act() -> board_moves.BoardMove:
        if to_board is None:
            raise InvalidInput("Choose the board to move it to.", field="board_id")
        return board_moves.move_idea(
            idea, to_board, actor=current_user, note=form.note.data or "", ip=client_ip(),
            to_stage=stage,
        )  # fmt: skip

    done = handle_submission(
        form,
        act,
        success=f"Moved to the {to_board.name if to_board else 'new'} board. "
        "The followers who can see it there are told.",
        redirect_to=_after_move,
    )
    return done or _choose_page(idea, form, to_board, status=400)


def _after_move(moved: board_moves.BoardMove) -> str:
    """Where to go after the move, saying first what else changed with it."""
    if moved.new_stage is not None:
        flash(f"It is {moved.new_stage.name} now, a stage of that board's pipeline.", "info")
    if moved.category_cleared is not None:
        flash(
            f"Its category, {moved.category_cleared}, is not one of the {moved.to_board.name} "
            "board's, so it has none now. Choose one by editing the idea.",
            "info",
        )
    return url_for("ideas.detail", idea_id=moved.idea.id)
