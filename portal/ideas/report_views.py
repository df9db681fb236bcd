"""Routes for reporting an idea or a comment to the moderators."""

from __future__ import annotations

from flask import abort, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import RequestLimit
from flask_login import current_user

from portal import limits
from portal.forms import handle_submission
from portal.ideas import bp
from portal.ideas.common import comment_or_404, idea_or_404
from portal.ideas.forms import ReportForm
from portal.models import Comment, Idea
from portal.services import reports
from portal.web import login_required


def _report_target() -> tuple[Idea, Comment | None]:
    args = request.view_args or {}
    if "comment_id" in args:
        comment = comment_or_404(args["comment_id"])
        return idea_or_404(comment.idea_id), comment  # loaded already: no second query
    return idea_or_404(args["idea_id"]), None


def _report_form_again(limit: RequestLimit | None) -> str:
    form = ReportForm()
    form.form_errors.append(limits.too_many_message("reported posts", limit))
    idea, comment = _report_target()
    return render_template("ideas/report.html", form=form, idea=idea, comment=comment)


def _report(idea: Idea, comment: Comment | None) -> ResponseReturnValue:
    form = ReportForm()
    done = handle_submission(
        form,
        lambda: reports.report(
            current_user,
            reason=form.reason.data,
            detail=form.detail.data or "",
            idea=idea,
            comment=comment,
        ),
        success="Thank you for telling us. The moderators will look at it.",
        redirect_to=url_for(
            "ideas.detail",
            idea_id=idea.id,
            _anchor=f"comment-{comment.id}" if comment is not None else None,
        ),
    )
    if done:
        limits.counted()
        return done
    status = 400 if form.errors or form.form_errors else 200
    return render_template("ideas/report.html", form=form, idea=idea, comment=comment), status


@bp.route("/ideas/<id:idea_id>/report", methods=["GET", "POST"])
@limits.per_person_limit("LIMIT_REPORTS", keep_typed=_report_form_again, scope="reports")
@login_required
def report_idea(idea_id: int) -> ResponseReturnValue:
    idea, _ = _report_target()
    if idea.hidden_at is not None:
        abort(404)  # already out of sight: nothing to report
    return _report(idea, None)


@bp.route("/comments/<id:comment_id>/report", methods=["GET", "POST"])
@limits.per_person_limit("LIMIT_REPORTS", keep_typed=_report_form_again, scope="reports")
@login_required
def report_comment(comment_id: int) -> ResponseReturnValue:
    idea, comment = _report_target()
    return _report(idea, comment)
