"""Routes for ideas themselves: submitting, the idea's page, editing, votes, follows, my ideas."""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import RequestLimit
from flask_login import current_user
from wtforms.validators import InputRequired

from portal import intent, limits
from portal.cache import cached, idea_tag, touching
from portal.database import read_only
from portal.extensions import csrf, db
from portal.forms import apply_domain_error, handle_submission
from portal.ideas import bp
from portal.ideas.common import back, idea_or_404
from portal.ideas.counts import vote_answer
from portal.ideas.forms import ActionForm, IdeaForm, NewIdeaForm, OutcomeForm
from portal.ideas.notification_views import read_news_about
from portal.ideas.page import render_idea_page
from portal.models import Board, Category, Idea
from portal.permissions import can_edit_idea, can_publish_concept, can_submit_idea, is_signed_in
from portal.services import board_pages, catalog, idea_lists, ideas, outcomes, votes
from portal.services.errors import DomainError, InvalidInput
from portal.services.search import similar_ideas
from portal.web import login_required, same_origin, wants_json


def _idea_form(
    form_class: type[IdeaForm] = NewIdeaForm,
    *,
    current_category: Category | None = None,
    board: Board | None = None,
    **kwargs: object,
) -> IdeaForm:
    form = form_class(**kwargs)
    categories = catalog.active_categories()
    if board is not None:
        categories = board_pages.categories_of(board, categories)
    if current_category is not None and current_category not in categories:
        categories = [*categories, current_category]  # retired since; the idea may keep it
    form.category_id.choices = {"": "Choose a category"} | {str(c.id): c.name for c in categories}
    if categories:  # asked with the other fields, not after the duplicate check
        form.category_id.validators = [InputRequired(message="Choose the category that fits best.")]
        form.category_id.flags.required = True
    return form


def _new_idea_form() -> tuple[NewIdeaForm, board_pages.BoardChoice]:
    """The new-idea form with the boards this person may post to, the one chosen (posted, or
    named by `?board=` from a board's page) and that board's categories."""
    choice = board_pages.choose_board(
        current_user,
        request.form.get("board", "") if request.method == "POST" else request.args.get("board"),
        posted=request.method == "POST",
    )
    form = _idea_form(NewIdeaForm, board=choice.board)
    assert isinstance(form, NewIdeaForm)
    form.board.choices = [(b.slug, b.name) for b in choice.postable]
    if choice.board is not None:
        form.board.data = choice.board.slug
    return form, choice


def _render_new(
    form: NewIdeaForm,
    choice: board_pages.BoardChoice,
    similar: list[Idea] | None = None,
    voted: set[int] | None = None,
) -> str:
    return render_template(
        "ideas/new.html",
        form=form,
        choice=choice,
        board_categories=board_pages.categories_by_board(choice.postable)
        if len(choice.postable) > 1
        else None,
        similar=similar or [],
        voted=voted or set(),
    )


def _idea_form_again(limit: RequestLimit | None) -> str:
    form, choice = _new_idea_form()
    form.form_errors.append(limits.too_many_message("posted ideas", limit))
    return _render_new(form, choice)


def _submit(form: IdeaForm, board: Board) -> Idea | None:
    """Post the idea and say what happens next; None if the service refused it."""
    try:
        idea = ideas.submit_idea(
            author=current_user,
            title=form.title.data,
            problem=form.problem.data,
            solution=form.solution.data or "",
            category_id=form.category_id.data or None,
            as_concept=bool(form.as_concept.data) and can_publish_concept(current_user),
            board=board,
        )
    except InvalidInput as exc:
        db.session.rollback()
        apply_domain_error(form, exc)
        return None
    db.session.commit()
    limits.counted()
    if idea.awaiting_approval:
        flash(
            "Thank you! Your first idea is checked by a moderator before it is "
            "public; you will be notified. Only you and the team can see it now.",
            "success",
        )
    else:
        flash("Your idea is posted. You vote for it and follow it automatically.", "success")
    return idea


@bp.route("/ideas/new", methods=["GET", "POST"])
@limits.per_person_limit(
    "LIMIT_IDEAS", new_accounts="LIMIT_IDEAS_NEW_ACCOUNT", keep_typed=_idea_form_again
)
@login_required
def new() -> ResponseReturnValue:
    if not can_submit_idea(current_user):
        # Signed in, but the address is not confirmed yet: say what to do, keep nothing.
        status = 200 if request.method == "GET" else 403
        return render_template("ideas/confirm_first.html"), status
    form, choice = _new_idea_form()
    similar = []
    if choice.board is None:
        # No board takes new ideas from this person now: say so, and keep what was typed.
        status = 200 if request.method == "GET" else 403
        return _render_new(form, choice), status
    valid = form.validate_on_submit()
    if choice.problem and request.method == "POST":
        form.board.errors = [*form.board.errors, choice.problem]  # after validate() resets them
        valid = False
    if valid:
        if not form.confirmed.data:
            # Without JavaScript, duplicates are suggested in a confirm step before saving.
            similar = similar_ideas(form.title.data, viewer=current_user, limit=5)
        if not similar:
            idea = _submit(form, choice.board)
            if idea is not None:
                return redirect(url_for("ideas.detail", idea_id=idea.id), code=303)
        form.confirmed.data = "1"
    status = 400 if form.errors else 200
    voted = idea_lists.voted_ids(current_user, [idea.id for idea in similar])
    return _render_new(form, choice, similar, voted), status


@bp.route("/ideas/similar")
def similar() -> ResponseReturnValue:
    """Suggestions while the title is typed (an HTML fragment for the enhancing script), each
    with its vote button: finding the idea exists, a person votes rather than posts it twice."""
    title = request.args.get("title", "")[:120]
    found = similar_ideas(title, viewer=current_user, limit=5)
    voted = idea_lists.voted_ids(current_user, [idea.id for idea in found])
    return render_template("ideas/_similar.html", similar=found, voted=voted)


@bp.route("/ideas/<id:idea_id>")
@cached(tags=lambda idea_id: (idea_tag(idea_id),))
def detail(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
    read_news_about(idea)
    return render_idea_page(idea)


@bp.route("/ideas/<id:idea_id>/edit", methods=["GET", "POST"])
@login_required
def edit(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
    if not can_edit_idea(current_user, idea):
        abort(403)
    form = _idea_form(
        IdeaForm,
        current_category=idea.category,
        board=idea.board,
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
@intent.sign_in_first("vote", when=lambda: request.form.get("action") == "vote")
@login_required
def vote(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
    form = ActionForm()
    if not form.validate_on_submit() or form.action.data not in ("vote", "unvote"):
        abort(400)
    json = wants_json()  # the enhancing script updates the button in place
    # A vote shows on the idea's page and in the lists: only those are made afresh.
    with touching(idea.id):
        try:
            if form.action.data == "vote":
                if votes.cast_vote(idea, current_user):
                    limits.counted()
            else:
                votes.withdraw_vote(idea, current_user)
        except DomainError as exc:
            db.session.rollback()
            if json:
                return jsonify(error=exc.message), 409
            flash(exc.message, "error")
        else:
            db.session.commit()
            if json:
                # Reading the new count needs no write lock: on SQLite, other voters go on
                # meanwhile.
                with read_only():
                    db.session.refresh(idea)
                    # The vote counts now exactly when it was cast: no need to ask.
                    answer = vote_answer(idea, current_user, voted=form.action.data == "vote")
                return jsonify(answer)
    # The URL's id: idea.id, expired by the commit, would be read again in a write transaction.
    return redirect(back(url_for("ideas.detail", idea_id=idea_id)), code=303)


@bp.route("/ideas/<id:idea_id>/follow", methods=["POST"])
@intent.sign_in_first("follow", when=lambda: request.form.get("action") == "follow")
@login_required
def follow(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
    form = ActionForm()
    if not form.validate_on_submit() or form.action.data not in ("follow", "unfollow"):
        abort(400)
    with touching(idea.id):
        if form.action.data == "follow":
            votes.follow(idea, current_user)
            flash("You follow this idea and will be notified of changes.", "success")
        else:
            votes.unfollow(idea, current_user)
            flash("You no longer follow this idea.", "success")
        db.session.commit()
    return redirect(back(url_for("ideas.detail", idea_id=idea.id)), code=303)


@bp.route("/ideas/<id:idea_id>/comments/draft", methods=["POST"])
@csrf.exempt
def keep_comment_draft(idea_id: int) -> ResponseReturnValue:
    """The comment box shown to people signed out: keep what they typed, then sign in.

    Its page is shared by every signed-out visitor (portal.cache), so it carries no CSRF
    token. Nothing is posted here: the text is only kept in the visitor's own session and put
    back in the comment box, which they post themselves once signed in. A request from another
    site is refused all the same (the Origin and Sec-Fetch-Site headers browsers send), so no
    other site can put words in that box or replace a session.
    """
    if not same_origin():
        abort(403)
    idea = idea_or_404(idea_id)
    body = request.form.get("body", "")
    if body.strip():
        intent.keep_draft(idea, body)
    found = intent.Intent("comment", idea)
    if is_signed_in(current_user):  # signed in meanwhile, in another tab
        flash("Your comment is in the box below: check it and post it.", "success")
        return redirect(intent.landing(found), code=303)
    return redirect(url_for("auth.sign_in", next=intent.landing(found), **found.args), code=303)


@bp.route("/my-ideas")
@login_required
def mine() -> ResponseReturnValue:
    activity = idea_lists.my_activity(current_user)
    every_idea = {idea.id: idea for group in activity.values() for idea in group}
    return render_template(
        "ideas/mine.html",
        activity=activity,
        latest=idea_lists.latest_changes(list(every_idea.values())),
    )


@bp.route("/ideas/<id:idea_id>/outcome", methods=["POST"])
@login_required
def answer_outcome(idea_id: int) -> ResponseReturnValue:
    idea = idea_or_404(idea_id)
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
    return done or render_idea_page(idea, outcome_form=form, status=400)
