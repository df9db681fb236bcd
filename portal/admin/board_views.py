"""Admin pages for boards: the list, creating and changing one (with the review of who a wider
audience lets in), moving one up or down the list, and deleting an empty one."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from portal.admin import bp
from portal.admin.board_forms import (
    BoardForm,
    board_choices,
    board_data,
    posted_choices,
)
from portal.admin.forms import ActionForm
from portal.extensions import db
from portal.forms import apply_domain_error, handle_submission
from portal.models import Board
from portal.permissions import can_configure_boards
from portal.services import board_admin, boards, catalog, organisations
from portal.services.board_admin import AudienceWidens
from portal.services.errors import DomainError
from portal.web import client_ip, role_required

# The buttons of the review page: save after all, or go back to the form.
LET_THEM_IN, CHANGE_IT_BACK = "let-them-in", "change-it-back"


@bp.route("/boards")
@role_required(can_configure_boards)
def boards_list() -> str:
    return render_template(
        "admin/boards/list.html",
        boards=boards.all_boards(),
        counts=board_admin.idea_counts(),
        action_form=ActionForm(),
        people_pages="admin.board_people" in current_app.view_functions,
    )


def _board_page(
    board: Board | None, form: BoardForm, chosen: dict[str, set[int]], status: int = 200
) -> tuple[str, int]:
    return render_template(
        "admin/boards/form.html",
        board=board,
        form=form,
        chosen=chosen,
        organisations=organisations.organisation_names(),
        categories=catalog.all_categories(),
        stages=board_admin.board_stages_choice(),
        people_pages="admin.board_people" in current_app.view_functions,
    ), status


def _review_page(form: BoardForm, widens: AudienceWidens) -> str:
    """Who a save would newly let in; the form's values travel on in hidden fields."""
    carried = [
        (key, value)
        for key, value in request.form.items(multi=True)
        if key not in ("csrf_token", "review", "seen")
    ]
    return render_template(
        "admin/boards/review.html",
        board=widens.board,
        form=form,
        widening=widens.widening,
        seen=widens.seen,
        idea_count=widens.idea_count,
        carried=carried,
    )


def _save_board(board: Board | None) -> ResponseReturnValue:
    if request.method == "GET":
        return _board_page(board, BoardForm(data=board_data(board)), board_choices(board))
    form, chosen = BoardForm(), posted_choices(request.form)
    review = request.form.get("review")
    if review == CHANGE_IT_BACK and board is not None:
        return _changed_back(board, form, chosen)
    if not form.validate_on_submit():
        return _board_page(board, form, chosen, 400)
    try:
        saved = board_admin.save_board(
            board,
            form.draft(chosen),
            actor=current_user,
            ip=client_ip(),
            let_them_in=request.form.get("seen") if review == LET_THEM_IN else None,
        )
    except AudienceWidens as widens:
        db.session.rollback()
        return _review_page(form, widens)
    except DomainError as error:
        db.session.rollback()
        apply_domain_error(form, error)
        return _board_page(board, form, chosen, 400)
    db.session.commit()
    flash(saved.message(), "success")
    return redirect(url_for("admin.boards_list"), code=303)


def _changed_back(board: Board, form: BoardForm, chosen: dict[str, set[int]]) -> tuple[str, int]:
    """The form again with who may see the board as it is now, and every other change kept."""
    as_is = board_data(board)
    form.audience.data, form.domains.data = str(as_is["audience"]), str(as_is["domains"])
    chosen["organisation_ids"] = board_choices(board)["organisation_ids"]
    flash(
        "Who may see the board is back as it is now. Your other changes are still in the form, "
        "not saved yet.",
        "info",
    )
    return _board_page(board, form, chosen)


@bp.route("/boards/new", methods=["GET", "POST"])
@role_required(can_configure_boards)
def new_board() -> ResponseReturnValue:
    return _save_board(None)


@bp.route("/boards/<id:board_id>/edit", methods=["GET", "POST"])
@role_required(can_configure_boards)
def edit_board(board_id: int) -> ResponseReturnValue:
    return _save_board(db.get_or_404(Board, board_id))


@bp.route("/boards/<id:board_id>/move", methods=["POST"])
@role_required(can_configure_boards)
def move_board(board_id: int) -> BaseResponse:
    board = db.get_or_404(Board, board_id)
    up = request.form.get("direction") != "down"
    form = ActionForm()
    done = handle_submission(
        form,
        lambda: board_admin.move_board(board, up=up, actor=current_user, ip=client_ip()),
        success=f"{board.name} moved {'up' if up else 'down'}.",
        redirect_to=url_for("admin.boards_list"),
    )
    for message in form.form_errors:
        flash(message, "error")
    return done or redirect(url_for("admin.boards_list"), code=303)


@bp.route("/boards/<id:board_id>/delete", methods=["GET", "POST"])
@role_required(can_configure_boards)
def delete_board(board_id: int) -> ResponseReturnValue:
    board = db.get_or_404(Board, board_id)
    form = ActionForm()
    done = handle_submission(
        form,
        lambda: board_admin.delete_board(board, actor=current_user, ip=client_ip()),
        success=f"{board.name} is deleted.",
        redirect_to=url_for("admin.boards_list"),
    )
    if done:
        return done
    status = 400 if form.form_errors or request.method == "POST" else 200
    return render_template(
        "admin/boards/delete.html",
        board=board,
        form=form,
        idea_count=board_admin.idea_count(board),
        only_board=len(boards.all_boards()) == 1,
    ), status
