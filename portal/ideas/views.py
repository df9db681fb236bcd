"""Routes for ideas: the submit flow, an idea's page, votes, follows, comments, notifications."""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.validators import InputRequired

from portal import limits
from portal.cache import cached_page
from portal.database import read_only
from portal.extensions import db
from portal.forms import apply_domain_error, handle_submission
from portal.ideas import bp
from portal.ideas.forms import (
    ActionForm,
    CommentForm,
    IdeaForm,
    MergeForm,
    MoveForm,
    NewIdeaForm,
    OutcomeForm,
    ReportForm,
)
from portal.models import Comment, Idea, StageChange
from portal.models.types import utcnow
from portal.permissions import (
    can_comment,
    can_edit_comment,
    can_edit_idea,
    can_mark_official,
    can_moderate,
    can_publish_concept,
    can_see_revisions,
    can_submit_idea,
    can_triage,
    can_vote,
    is_signed_in,
)
from portal.services import (
    catalog,
    comments,
    idea_lists,
    ideas,
    notifications,
    outcomes,
    pipeline,
    reports,
    votes,
)
from portal.services.errors import DomainError, InvalidInput
from portal.web import client_ip, login_required, parse_number, role_required, safe_next


def _idea_or_404(idea_id: int):
    try:
        return ideas.get_idea(idea_id, viewer=current_user)
    except ideas.IdeaNotFound:
        abort(404)


def _comment_or_404(comment_id: int) -> Comment:
    comment = db.get_or_404(Comment, comment_id)
    _idea_or_404(comment.idea_id)
    if comment.hidden_at is not None or comment.deleted_at is not None:
        abort(404)
    return comment


def _idea_form(form_class=NewIdeaForm, *, current_category=None, **kwargs) -> IdeaForm:
    form = form_class(**kwargs)
    categories = catalog.active_categories()
    if current_category is not None and current_category not in categories:
        categories = [*categories, current_category]  # retired since; the idea may keep it
    form.category_id.choices = {"": "Choose a category"} | {str(c.id): c.name for c in categories}
    if categories:  # asked with the other fields, not after the duplicate check
        form.category_id.validators = [InputRequired(message="Choose the category that fits best.")]
        form.category_id.flags.required = True
    return form


def _back(default: str) -> str:
    """Where a button sends people back to: the page they pressed it on, if it is ours."""
    target = request.form.get("next")
    return safe_next(target) if target else default


def _idea_form_again(limit):
    form = _idea_form()
    form.form_errors.append(limits.too_many_message("posted ideas", limit))
    return render_template("ideas/new.html", form=form, similar=[])


@bp.route("/ideas/new", methods=["GET", "POST"])
@limits.per_person_limit(
    "LIMIT_IDEAS", new_accounts="LIMIT_IDEAS_NEW_ACCOUNT", keep_typed=_idea_form_again
)
@login_required
def new():
    if not can_submit_idea(current_user):
        # Signed in, but the address is not confirmed yet: say what to do, keep nothing.
        status = 200 if request.method == "GET" else 403
        return render_template("ideas/confirm_first.html"), status
    form = _idea_form()
    similar = []
    if form.validate_on_submit():
        if not form.confirmed.data:
            # Without JavaScript, duplicates are suggested in a confirm step before saving.
            from portal.services.search import similar_ideas

            similar = similar_ideas(form.title.data, limit=5)
        if not similar:
            try:
                idea = ideas.submit_idea(
                    author=current_user,
                    title=form.title.data,
                    problem=form.problem.data,
                    solution=form.solution.data or "",
                    category_id=form.category_id.data or None,
                    as_concept=bool(form.as_concept.data) and can_publish_concept(current_user),
                )
            except InvalidInput as exc:
                db.session.rollback()
                apply_domain_error(form, exc)
            else:
                db.session.commit()
                limits.counted()
                if idea.awaiting_approval:
                    flash(
                        "Thank you! Your first idea is checked by a moderator before it is "
                        "public; you will be notified. Only you and the team can see it now.",
                        "success",
                    )
                else:
                    flash(
                        "Your idea is posted. You vote for it and follow it automatically.",
                        "success",
                    )
                return redirect(url_for("ideas.detail", idea_id=idea.id), code=303)
        form.confirmed.data = "1"
    status = 400 if form.errors else 200
    return render_template("ideas/new.html", form=form, similar=similar), status


@bp.route("/ideas/similar")
def similar():
    """Suggestions while the title is typed (an HTML fragment for the enhancing script)."""
    from portal.services.search import similar_ideas

    title = request.args.get("title", "")[:120]
    return render_template("ideas/_similar.html", similar=similar_ideas(title, limit=5))


def _move_form(idea, formdata=None) -> MoveForm:
    form = MoveForm(formdata=formdata)
    form.stage_id.choices = {str(s.id): s.name for s in pipeline.allowed_targets(idea)}
    return form


@bp.route("/ideas/<id:idea_id>")
@cached_page
def detail(idea_id: int):
    return _render_detail(_idea_or_404(idea_id))


def _team_context(idea, *, owner_form=None, estimates_form=None, note_form=None) -> dict:
    """The team's tools on an idea: owner, estimates, internal notes (never for customers)."""
    from portal.services import triage
    from portal.team.forms import EstimatesForm, InternalNoteForm, OwnerForm

    if owner_form is None:
        owner_form = OwnerForm(formdata=None, data={"owner_id": str(idea.owner_id or "")})
    owner_form.owner_id.choices = {"": "Nobody yet"} | {
        str(m.id): m.display_name for m in triage.team_members()
    }
    if estimates_form is None:
        estimates_form = EstimatesForm(
            formdata=None,
            data={"impact": str(idea.impact or ""), "effort": str(idea.effort or "")},
        )
    return {
        "owner_form": owner_form,
        "estimates_form": estimates_form,
        "note_form": note_form or InternalNoteForm(formdata=None),
        "internal_notes": triage.internal_notes(idea, viewer=current_user),
    }


def _render_detail(
    idea, *, move_form=None, merge_form=None, outcome_form=None, status=200, **team_forms
):
    official, threads = comments.conversation(idea, viewer=current_user)
    timeline = db.session.scalars(
        select(StageChange)
        .where(StageChange.idea_id == idea.id)
        .order_by(StageChange.created_at, StageChange.id)
    ).all()
    people, organisations = idea_lists.supporter_summary(idea)
    own = outcomes.own_answer(idea, current_user)
    due = idea.response_due_at
    # Forms carry a CSRF token, and making one starts a session. Anonymous visitors see no form
    # on this page, so they get none, and their page can be kept whole by the cache.
    signed_in = is_signed_in(current_user)
    return render_template(
        "ideas/detail.html",
        idea=idea,
        official=official,
        threads=threads,
        timeline=timeline,
        people=people,
        organisations=organisations,
        due=due,
        overdue=due is not None and due < utcnow(),
        voted=votes.has_voted(idea, current_user),
        following=votes.is_following(idea, current_user),
        can_vote=can_vote(current_user, idea),
        can_comment=can_comment(current_user, idea),
        can_edit=can_edit_idea(current_user, idea),
        can_mark_official=can_mark_official(current_user),
        can_moderate=can_moderate(current_user),
        can_edit_comment=lambda c: can_edit_comment(current_user, c, now=utcnow()),
        revisions=ideas.revisions(idea) if can_see_revisions(current_user) else [],
        comment_form=CommentForm(formdata=None) if signed_in else None,
        action_form=ActionForm() if signed_in else None,
        move_form=move_form or (_move_form(idea) if can_triage(current_user) else None),
        merge_form=merge_form or (MergeForm(formdata=None) if signed_in else None),
        can_triage=can_triage(current_user),
        **(_team_context(idea, **team_forms) if can_triage(current_user) else {}),
        asked=outcomes.is_asked(idea),
        can_answer=outcomes.can_answer(current_user, idea),
        own_answer=own,
        # The earlier comment is in the box, so changing the answer does not erase it.
        outcome_form=outcome_form
        or (
            OutcomeForm(formdata=None, data={"comment": own.comment if own else ""})
            if signed_in
            else None
        ),
        answers=outcomes.ANSWERS,
        verdicts=outcomes.verdicts(idea, viewer=current_user)
        if can_triage(current_user) and outcomes.is_asked(idea)
        else None,
    ), status


@bp.route("/ideas/<id:idea_id>/edit", methods=["GET", "POST"])
@login_required
def edit(idea_id: int):
    idea = _idea_or_404(idea_id)
    if not can_edit_idea(current_user, idea):
        abort(403)
    form = _idea_form(
        IdeaForm,
        current_category=idea.category,
        obj=idea,
        data=None if request.method == "POST" else {"category_id": str(idea.category_id or "")},
    )
    done = handle_submission(
        form,
        lambda: ideas.edit_idea(
            idea,
            actor=current_user,
            title=form.title.data,
            problem=form.problem.data,
            solution=form.solution.data or "",
            category_id=form.category_id.data or None,
        ),
        success="Your idea is updated.",
        redirect_to=url_for("ideas.detail", idea_id=idea.id),
    )
    if done:
        return done
    return render_template("ideas/edit.html", form=form, idea=idea), 400 if form.errors else 200


@bp.route("/ideas/<id:idea_id>/vote", methods=["POST"])
@limits.per_person_limit("LIMIT_VOTES", unless=lambda: request.form.get("action") == "unvote")
@login_required
def vote(idea_id: int):
    idea = _idea_or_404(idea_id)
    form = ActionForm()
    if not form.validate_on_submit() or form.action.data not in ("vote", "unvote"):
        abort(400)
    wants_json = request.accept_mimetypes.best == "application/json"
    try:
        if form.action.data == "vote":
            if votes.cast_vote(idea, current_user):
                limits.counted()
        else:
            votes.withdraw_vote(idea, current_user)
    except DomainError as exc:
        db.session.rollback()
        if wants_json:
            return jsonify(error=exc.message), 409
        flash(exc.message, "error")
    else:
        db.session.commit()
        if wants_json:  # the enhancing script updates the button in place
            # Reading the new count needs no write lock: on SQLite, other voters go on meanwhile.
            with read_only():
                db.session.refresh(idea)
                answer = {
                    "voted": votes.has_voted(idea, current_user),
                    "vote_count": idea.vote_count,
                }
            return jsonify(answer)
    return redirect(_back(url_for("ideas.detail", idea_id=idea.id)), code=303)


@bp.route("/ideas/<id:idea_id>/follow", methods=["POST"])
@login_required
def follow(idea_id: int):
    idea = _idea_or_404(idea_id)
    form = ActionForm()
    if not form.validate_on_submit() or form.action.data not in ("follow", "unfollow"):
        abort(400)
    if form.action.data == "follow":
        votes.follow(idea, current_user)
        flash("You follow this idea and will be notified of changes.", "success")
    else:
        votes.unfollow(idea, current_user)
        flash("You no longer follow this idea.", "success")
    db.session.commit()
    return redirect(_back(url_for("ideas.detail", idea_id=idea.id)), code=303)


def _comment_form_again(limit):
    idea = _idea_or_404(request.view_args["idea_id"])
    form = CommentForm()
    form.body.errors = [limits.too_many_message("commented", limit)]
    return render_template("ideas/comment_error.html", form=form, idea=idea)


@bp.route("/ideas/<id:idea_id>/comments", methods=["POST"])
@limits.per_person_limit(
    "LIMIT_COMMENTS", new_accounts="LIMIT_COMMENTS_NEW_ACCOUNT", keep_typed=_comment_form_again
)
@login_required
def comment(idea_id: int):
    idea = _idea_or_404(idea_id)
    form = CommentForm()
    parent_id = form.parent_id.data or ""
    done = handle_submission(
        form,
        lambda: comments.add_comment(
            idea,
            author=current_user,
            body=form.body.data,
            parent_id=parse_number(parent_id),
        ),
        success="Your comment is posted.",
        redirect_to=lambda c: url_for("ideas.detail", idea_id=idea.id, _anchor=f"comment-{c.id}"),
    )
    if done:
        limits.counted()
        return done
    return render_template("ideas/comment_error.html", form=form, idea=idea), 400


@bp.route("/comments/<id:comment_id>/edit", methods=["GET", "POST"])
@login_required
def edit_comment(comment_id: int):
    comment = _comment_or_404(comment_id)
    if not can_edit_comment(current_user, comment, now=utcnow()):
        abort(403)
    form = CommentForm(obj=comment)
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


@bp.route("/comments/<id:comment_id>/delete", methods=["POST"])
@login_required
def delete_comment(comment_id: int):
    comment = _comment_or_404(comment_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    comments.delete_comment(comment, actor=current_user)
    db.session.commit()
    flash("Your comment is deleted.", "success")
    return redirect(
        url_for("ideas.detail", idea_id=comment.idea_id, _anchor="conversation"), code=303
    )


@bp.route("/comments/<id:comment_id>/official", methods=["POST"])
@login_required
def mark_official(comment_id: int):
    comment = _comment_or_404(comment_id)
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


@bp.route("/notifications")
@login_required
def notifications_page():
    return render_template(
        "ideas/notifications.html",
        items=notifications.notifications_for(current_user),
        action_form=ActionForm(),
    )


@bp.route("/notifications/<id:notification_id>/read", methods=["POST"])
@login_required
def read_notification(notification_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    notifications.mark_read(current_user, notification_id)
    db.session.commit()
    return redirect(_back(url_for("ideas.notifications_page")), code=303)


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def read_all_notifications():
    if not ActionForm().validate_on_submit():
        abort(400)
    count = notifications.mark_read(current_user)
    db.session.commit()
    flash(f"Marked {count} notification{'s' if count != 1 else ''} as read.", "success")
    return redirect(url_for("ideas.notifications_page"), code=303)


@bp.route("/my-ideas")
@login_required
def mine():
    activity = idea_lists.my_activity(current_user)
    every_idea = {idea.id: idea for group in activity.values() for idea in group}
    return render_template(
        "ideas/mine.html",
        activity=activity,
        latest=idea_lists.latest_changes(list(every_idea.values())),
    )


SEARCH_PER_PAGE = 20
SEARCH_MAX_PAGE = 50  # past a thousand results, a better query beats more pages


@bp.route("/search")
@cached_page
def search():
    from portal.services.search import search_ideas

    text = request.args.get("q", "").strip()[:200]
    page_arg = request.args.get("page", "1")
    page = parse_number(page_arg, maximum=SEARCH_MAX_PAGE)
    if not page:
        abort(400, f"The page number must be a whole number from 1 to {SEARCH_MAX_PAGE}.")
    results = (
        search_ideas(text, limit=SEARCH_PER_PAGE, offset=(page - 1) * SEARCH_PER_PAGE)
        if text
        else None
    )
    last_page = 1
    if results is not None:
        last_page = min(SEARCH_MAX_PAGE, max(1, -(-results.total // SEARCH_PER_PAGE)))
    return render_template(
        "ideas/search.html", q=text, results=results, page=page, last_page=last_page
    )


@bp.route("/ideas/<id:idea_id>/move", methods=["POST"])
@role_required(can_triage)
def move(idea_id: int):
    idea = _idea_or_404(idea_id)
    form = _move_form(idea, formdata=request.form)
    stage = next(
        (s for s in pipeline.allowed_targets(idea) if str(s.id) == form.stage_id.data), None
    )

    def act():
        if stage is None:
            raise InvalidInput("Choose one of the listed stages.", field="stage_id")
        pipeline.move_stage(idea, stage, actor=current_user, note=form.note.data, ip=client_ip())

    done = handle_submission(
        form,
        act,
        success="Moved. Everyone following the idea is notified with your note.",
        redirect_to=url_for("ideas.detail", idea_id=idea.id),
    )
    return done or _render_detail(idea, move_form=form, status=400)


@bp.route("/ideas/<id:idea_id>/merge", methods=["POST"])
@role_required(can_triage)
def merge(idea_id: int):
    source = _idea_or_404(idea_id)
    form = MergeForm()

    def act():
        target = db.session.get(Idea, parse_number(form.target_id.data) or 0)
        if target is None:
            raise InvalidInput("There is no idea with that number.", field="target_id")
        pipeline.merge_ideas(
            source, target, actor=current_user, note=form.note.data, ip=client_ip()
        )
        return target

    done = handle_submission(
        form,
        act,
        success="Merged. Votes and followers moved, and the followers are notified.",
        redirect_to=lambda target: url_for("ideas.detail", idea_id=target.id),
    )
    return done or _render_detail(source, merge_form=form, status=400)


@bp.route("/ideas/<id:idea_id>/outcome", methods=["POST"])
@login_required
def answer_outcome(idea_id: int):
    idea = _idea_or_404(idea_id)
    if not outcomes.can_answer(current_user, idea):
        abort(403)
    form = OutcomeForm()
    done = handle_submission(
        form,
        lambda: outcomes.answer_outcome(
            idea, current_user, answer=form.answer.data or "", comment=form.comment.data or ""
        ),
        success="Thank you. Your answer goes straight to the product team.",
        redirect_to=url_for("ideas.detail", idea_id=idea.id, _anchor="outcome"),
    )
    return done or _render_detail(idea, outcome_form=form, status=400)


def _report_form_again(limit):
    form = ReportForm()
    form.form_errors.append(limits.too_many_message("reported posts", limit))
    idea, comment = _report_target()
    return render_template("ideas/report.html", form=form, idea=idea, comment=comment)


def _report_target() -> tuple[Idea, Comment | None]:
    args = request.view_args
    if "comment_id" in args:
        comment = _comment_or_404(args["comment_id"])
        return db.session.get(Idea, comment.idea_id), comment
    return _idea_or_404(args["idea_id"]), None


def _report(idea: Idea, comment: Comment | None):
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
def report_idea(idea_id: int):
    idea, _ = _report_target()
    if idea.hidden_at is not None:
        abort(404)  # already out of sight: nothing to report
    return _report(idea, None)


@bp.route("/comments/<id:comment_id>/report", methods=["GET", "POST"])
@limits.per_person_limit("LIMIT_REPORTS", keep_typed=_report_form_again, scope="reports")
@login_required
def report_comment(comment_id: int):
    idea, comment = _report_target()
    return _report(idea, comment)
