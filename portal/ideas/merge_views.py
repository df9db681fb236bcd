"""The team merges a duplicate: search for the idea to keep (or take a suggestion), confirm what
will move, merge; and unmerge, which puts everything back."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from portal.extensions import db
from portal.forms import handle_submission
from portal.ideas import bp
from portal.ideas.common import idea_or_404
from portal.ideas.forms import MergeForm, UnmergeForm
from portal.models import Idea
from portal.permissions import can_triage
from portal.services import merging, pipeline
from portal.web import client_ip, parse_number, role_required


def _merged_already(source: Idea) -> BaseResponse | None:
    """A merged idea has nothing to merge: send the team to its unmerge page instead."""
    if source.merged_into_id is None:
        return None
    return redirect(url_for("ideas.unmerge", idea_id=source.id), code=303)


def _choose_page(source: Idea, query: str, *, problem: str | None = None) -> Any:
    if (done := _merged_already(source)) is not None:
        return done
    return render_template(
        "ideas/merge_choose.html",
        idea=source,
        results=merging.search_targets(source, query, viewer=current_user)
        if query.strip()
        else None,
        query=query[:200],
        suggestions=merging.suggested_targets(source, viewer=current_user),
        problem=problem,
    )


def _confirm_page(source: Idea, target: Idea, form: MergeForm, status: int = 200) -> Any:
    return (
        render_template(
            "ideas/merge_confirm.html",
            idea=source,
            target=target,
            preview=merging.preview(source, target),
            form=form,
        ),
        status,
    )


@bp.route("/ideas/<id:idea_id>/merge/<id:target_id>", methods=["GET"])
@role_required(can_triage)
def confirm_merge(idea_id: int, target_id: int) -> ResponseReturnValue:
    """Step 2: both ideas side by side, what will move, and the note to the followers."""
    source = idea_or_404(idea_id)
    if (done := _merged_already(source)) is not None:
        return done
    target = merging.mergeable_target(source, target_id)
    if target is None:
        abort(404)
    form = MergeForm(formdata=None, data={"target_id": str(target.id)})
    return _confirm_page(source, target, form)


@bp.route("/ideas/<id:idea_id>/merge", methods=["GET", "POST"])
@role_required(can_triage)
def merge(idea_id: int) -> ResponseReturnValue:
    """GET: step 1, the idea to keep, by search or from the suggested duplicates (a results
    page without JavaScript; merge.js refreshes the results while words are typed).
    POST: step 3, the merge itself, from the confirm page (confirm_merge)."""
    source = idea_or_404(idea_id)
    if request.method == "GET":
        return _choose_page(source, request.args.get("q", ""))
    form = MergeForm()
    target_id = parse_number(form.target_id.data)
    target = db.session.get(Idea, target_id) if target_id else None
    if target is None:
        # Nothing to confirm against (a forged or stale form): back to choosing, saying why.
        if (done := _merged_already(source)) is not None:
            return done
        problem = "Choose the idea to keep: search for it, or take one of the suggestions."
        return _choose_page(source, "", problem=problem), 400

    def act() -> Idea:
        pipeline.merge_ideas(
            source, target, actor=current_user, note=form.note.data, ip=client_ip()
        )
        return target

    done = handle_submission(
        form,
        act,
        success="Merged. Votes and followers moved, and the followers are notified. "
        "You can unmerge it from the timeline below.",
        redirect_to=lambda kept: url_for(
            "ideas.detail", idea_id=kept.id, _anchor=f"merged-{source.id}"
        ),
    )
    if done is not None:
        return done
    # The kept idea is chosen, not typed: a problem with it is the form's, said at the top.
    form.form_errors.extend(form.target_id.errors)
    form.target_id.errors = []
    return _confirm_page(source, target, form, status=400)


@bp.route("/ideas/<id:idea_id>/unmerge", methods=["GET", "POST"])
@role_required(can_triage)
def unmerge(idea_id: int) -> ResponseReturnValue:
    """What unmerging gives back, and the note that tells the duplicate's followers."""
    source = idea_or_404(idea_id)
    record = merging.active_merge(source)
    if record is None:
        abort(404)
    target = db.session.get_one(Idea, record.target_id)
    form = UnmergeForm()
    problem = None
    try:
        merging.check_undoable(record, source)
    except merging.CannotUnmerge as exc:
        problem = str(exc)
    if request.method == "POST" and problem is None:
        done = handle_submission(
            form,
            lambda: pipeline.unmerge_ideas(
                source, actor=current_user, note=form.note.data, ip=client_ip()
            ),
            success="Unmerged. Both ideas have their own votes and followers again, and this "
            "idea's followers are notified.",
            redirect_to=url_for("ideas.detail", idea_id=source.id),
        )
        if done is not None:
            return done
    status = 400 if form.errors or form.form_errors else (409 if problem else 200)
    return render_template(
        "ideas/unmerge.html",
        idea=source,
        target=target,
        merge=record,
        form=form,
        problem=problem,
    ), status
