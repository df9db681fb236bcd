"""The moderation queue and the moderators' actions on ideas and comments."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from portal.admin import bp
from portal.admin.forms import (
    ActionForm,
    HideForm,
    ModeratorCommentForm,
    ModeratorIdeaForm,
    button_action,
)
from portal.extensions import db
from portal.forms import handle_submission
from portal.models import Comment, Idea
from portal.permissions import can_hide_content, can_moderate, hides_need_review
from portal.services import moderation, premoderation, reports
from portal.web import client_ip, role_required, safe_next


def _idea(idea_id: int) -> Idea:
    return db.get_or_404(Idea, idea_id)


def _comment(comment_id: int) -> Comment:
    comment = db.get_or_404(Comment, comment_id)
    if comment.deleted_at is not None:
        abort(404)
    return comment


def _back() -> str:
    target = request.values.get("next")  # the form's, or the Hide link's on a GET
    if target:
        return safe_next(target)
    # A product manager's hide comes back to their own pages: the moderation queue is the admins'.
    return url_for("admin.moderation_queue" if can_moderate(current_user) else "team.queue")


def _button_action(action: Callable[[], object], success: str) -> BaseResponse:
    """A one-click action (restore, approve, dismiss), back to the moderator's own pages."""
    return button_action(action, success, back=_back())


@bp.route("/moderation")
@role_required(can_moderate)
def moderation_queue() -> str:
    hidden_ideas, hidden_comments = moderation.recently_hidden()
    return render_template(
        "admin/moderation.html",
        queue=reports.report_queue(),
        waiting=moderation.awaiting_approval(),
        reviews=moderation.hides_awaiting_review(),
        hidden_ideas=hidden_ideas,
        hidden_comments=hidden_comments,
        reasons=reports.REASONS,
        pre_moderation=premoderation.pre_moderation_on(),
        hide_form=HideForm(formdata=None),
        action_form=ActionForm(),
    )


def _suggested_reason(target: str) -> str:
    """Prefill the reason from what reporters said, so the moderator only has to confirm."""
    reasons = reports.open_reasons(target)
    if not reasons:
        return ""
    reason, _ = reasons.most_common(1)[0]
    return f"{reports.REASONS[reason]}: see our community guidelines."


def _hide(item: Idea | Comment, target: str, *, what: str) -> ResponseReturnValue:
    form = HideForm()
    if request.method == "GET":
        form = HideForm(formdata=None, data={"reason": _suggested_reason(target)})
    reviewed = hides_need_review(current_user)
    done = handle_submission(
        form,
        lambda: moderation.hide(item, reason=form.reason.data, actor=current_user, ip=client_ip()),
        success=f"The {what} is hidden, and its author has been told why."
        + (" An admin will confirm it or restore it." if reviewed else ""),
        redirect_to=_back(),
    )
    if done:
        return done
    return render_template(
        "admin/moderation_hide.html",
        form=form,
        item=item,
        what=what,
        next=_back(),
        reviewed=reviewed,
    ), 400 if form.errors else 200


def _hideable_idea(idea_id: int) -> Idea:
    """An idea to hide: a product manager sees a 404 for one they could not see either."""
    idea = _idea(idea_id)
    if not can_moderate(current_user) and idea.awaiting_approval:
        abort(404)
    return idea


@bp.route("/moderation/ideas/<id:idea_id>/hide", methods=["GET", "POST"])
@role_required(can_hide_content)
def hide_idea(idea_id: int) -> ResponseReturnValue:
    idea = _hideable_idea(idea_id)
    return _hide(idea, reports.target_of(idea=idea), what="idea")


@bp.route("/moderation/comments/<id:comment_id>/hide", methods=["GET", "POST"])
@role_required(can_hide_content)
def hide_comment(comment_id: int) -> ResponseReturnValue:
    comment = _comment(comment_id)
    return _hide(comment, reports.target_of(comment=comment), what="comment")


@bp.route("/moderation/ideas/<id:idea_id>/confirm-hide", methods=["POST"])
@role_required(can_moderate)
def confirm_idea_hide(idea_id: int) -> BaseResponse:
    idea = _idea(idea_id)
    return _button_action(
        lambda: moderation.confirm_hide(idea, actor=current_user, ip=client_ip()),
        "The hide is confirmed; the idea stays hidden.",
    )


@bp.route("/moderation/comments/<id:comment_id>/confirm-hide", methods=["POST"])
@role_required(can_moderate)
def confirm_comment_hide(comment_id: int) -> BaseResponse:
    comment = _comment(comment_id)
    return _button_action(
        lambda: moderation.confirm_hide(comment, actor=current_user, ip=client_ip()),
        "The hide is confirmed; the comment stays hidden.",
    )


@bp.route("/moderation/ideas/<id:idea_id>/restore", methods=["POST"])
@role_required(can_moderate)
def restore_idea(idea_id: int) -> BaseResponse:
    idea = _idea(idea_id)
    return _button_action(
        lambda: moderation.restore(idea, actor=current_user, ip=client_ip()),
        "The idea is visible to everyone again.",
    )


@bp.route("/moderation/comments/<id:comment_id>/restore", methods=["POST"])
@role_required(can_moderate)
def restore_comment(comment_id: int) -> BaseResponse:
    comment = _comment(comment_id)
    return _button_action(
        lambda: moderation.restore(comment, actor=current_user, ip=client_ip()),
        "The comment is visible to everyone again.",
    )


@bp.route("/moderation/ideas/<id:idea_id>/approve", methods=["POST"])
@role_required(can_moderate)
def approve_idea(idea_id: int) -> BaseResponse:
    idea = _idea(idea_id)
    return _button_action(
        lambda: moderation.approve_idea(idea, actor=current_user, ip=client_ip()),
        "The idea is approved and public; its author's next ideas go straight up.",
    )


@bp.route("/moderation/ideas/<id:idea_id>/dismiss", methods=["POST"])
@role_required(can_moderate)
def dismiss_idea_reports(idea_id: int) -> BaseResponse:
    idea = _idea(idea_id)
    return _button_action(
        lambda: reports.dismiss_reports(idea=idea, actor=current_user, ip=client_ip()),
        "The reports are dismissed; the idea stays as it is.",
    )


@bp.route("/moderation/comments/<id:comment_id>/dismiss", methods=["POST"])
@role_required(can_moderate)
def dismiss_comment_reports(comment_id: int) -> BaseResponse:
    comment = _comment(comment_id)
    return _button_action(
        lambda: reports.dismiss_reports(comment=comment, actor=current_user, ip=client_ip()),
        "The reports are dismissed; the comment stays as it is.",
    )


@bp.route("/moderation/ideas/<id:idea_id>/edit", methods=["GET", "POST"])
@role_required(can_moderate)
def edit_idea(idea_id: int) -> ResponseReturnValue:
    idea = _idea(idea_id)
    form = ModeratorIdeaForm(obj=idea if request.method == "GET" else None)
    done = handle_submission(
        form,
        lambda: moderation.edit_idea(
            idea,
            title=form.title.data,
            problem=form.problem.data,
            solution=form.solution.data or "",
            note=form.note.data,
            actor=current_user,
            ip=client_ip(),
        ),
        success="The idea is updated; the earlier text is kept in its history.",
        redirect_to=url_for("ideas.detail", idea_id=idea.id),
    )
    if done:
        return done
    return render_template(
        "admin/moderation_edit.html", form=form, idea=idea, comment=None
    ), 400 if form.errors else 200


@bp.route("/moderation/comments/<id:comment_id>/edit", methods=["GET", "POST"])
@role_required(can_moderate)
def edit_comment(comment_id: int) -> ResponseReturnValue:
    comment = _comment(comment_id)
    form = ModeratorCommentForm(obj=comment if request.method == "GET" else None)
    done = handle_submission(
        form,
        lambda: moderation.edit_comment(
            comment, body=form.body.data, note=form.note.data, actor=current_user, ip=client_ip()
        ),
        success="The comment is updated; the earlier text is kept in the audit log.",
        redirect_to=url_for(
            "ideas.detail", idea_id=comment.idea_id, _anchor=f"comment-{comment.id}"
        ),
    )
    if done:
        return done
    return render_template(
        "admin/moderation_edit.html", form=form, idea=_idea(comment.idea_id), comment=comment
    ), 400 if form.errors else 200
