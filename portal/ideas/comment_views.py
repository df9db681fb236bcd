"""Routes for the conversation on an idea: posting, editing, deleting, the official response."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import RequestLimit
from flask_login import current_user

from portal import intent, limits
from portal.cache import touching
from portal.extensions import db
from portal.forms import handle_submission
from portal.ideas import bp
from portal.ideas.common import comment_or_404, idea_or_404
from portal.ideas.forms import ActionForm, CommentForm
from portal.ideas.page import can_edit_comment_now
from portal.models import Comment
from portal.permissions import can_delete_comment, can_mark_official
from portal.services import comments
from portal.services.errors import InvalidInput
from portal.web import login_required, parse_number


def _comment_form_again(limit: RequestLimit | None) -> str:
    idea = idea_or_404((request.view_args or {})["idea_id"])
    form = CommentForm()
    form.body.errors = [limits.too_many_message("commented", limit)]
    return render_template("ideas/comment_error.html", form=form, idea=idea)


@bp.route("/ideas/<id:idea_id>/comments", methods=["POST"])
@limits.per_person_limit(
    "LIMIT_COMMENTS", new_accounts="LIMIT_COMMENTS_NEW_ACCOUNT", keep_typed=_comment_form_again
)
@intent.sign_in_first("comment")
@login_required
def comment(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
    form = CommentForm()
    parent_id = form.parent_id.data or ""

    def anchored(c: Comment) -> str:
        return url_for("ideas.detail", idea_id=idea.id, _anchor=f"comment-{c.id}")

    with touching(idea.id):  # the idea's page and the lists, not every page
        done = handle_submission(
            form,
            lambda: comments.add_comment(
                idea,
                author=current_user,
                body=form.body.data,
                parent_id=parse_number(parent_id),
            ),
            success="Your comment is posted.",
            redirect_to=anchored,
        )
    if done:
        limits.counted()
        intent.drop_draft(idea)  # a draft kept while signing in is posted now
        return done
    return render_template("ideas/comment_error.html", form=form, idea=idea), 400


@bp.route("/comments/<id:comment_id>/edit", methods=["GET", "POST"])
@login_required
def edit_comment(comment_id: int) -> ResponseReturnValue:
    comment = comment_or_404(comment_id)
    if not can_edit_comment_now(comment):
        abort(403)
    form = CommentForm(obj=comment)
    with touching(comment.idea_id):
        done = handle_submission(
            form,
            lambda: comments.edit_comment(comment, actor=current_user, body=form.body.data),
            success="Your comment is updated.",
            redirect_to=url_for(
                "ideas.detail", idea_id=comment.idea_id, _anchor=f"comment-{comment.id}"
            ),
        )
    if done:
        return done
    status = 400 if form.errors else 200
    return render_template("ideas/edit_comment.html", form=form, comment=comment), status


@bp.route("/comments/<id:comment_id>/delete", methods=["GET", "POST"])
@login_required
def delete_comment(comment_id: int) -> ResponseReturnValue:
    """GET asks first (deleting cannot be undone); the confirmation's POST deletes.

    With JavaScript the comment asks in place and posts here directly.
    """
    comment = comment_or_404(comment_id)
    if not can_delete_comment(current_user, comment):
        abort(403)
    form = ActionForm()
    if request.method == "GET":
        idea = idea_or_404(comment.idea_id)
        return render_template("ideas/delete_comment.html", comment=comment, idea=idea, form=form)
    if not form.validate_on_submit():
        abort(400)
    with touching(comment.idea_id):
        comments.delete_comment(comment, actor=current_user)
        db.session.commit()
    flash("Your comment is deleted.", "success")
    return redirect(
        url_for("ideas.detail", idea_id=comment.idea_id, _anchor="conversation"), code=303
    )


@bp.route("/comments/<id:comment_id>/official", methods=["POST"])
@login_required
def mark_official(comment_id: int) -> ResponseReturnValue:
    comment = comment_or_404(comment_id)
    if not can_mark_official(current_user):
        abort(403)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        comments.mark_official(comment, actor=current_user)
    except InvalidInput as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash("Marked as the official response. Followers are notified.", "success")
    return redirect(url_for("ideas.detail", idea_id=comment.idea_id), code=303)
