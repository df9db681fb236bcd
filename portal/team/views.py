"""The team's own pages: the triage inbox, moving several ideas, the dashboard, priorities."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.downloads import csv_download
from portal.extensions import db
from portal.forms import handle_submission
from portal.models import Idea, Stage
from portal.permissions import can_triage
from portal.services import catalog, ideas, pipeline, saved_filters, scoring, triage
from portal.services.dashboard import dashboard as build_dashboard
from portal.services.errors import DomainError, InvalidInput
from portal.team import bp, inbox_views
from portal.team.forms import BulkMoveForm, FormulaForm, RowEstimatesForm, SavedFilterForm
from portal.web import client_ip, number_arg, parse_number, role_required, wants_json


def _filters(stages: list[Stage]) -> triage.TriageFilters:
    stage = request.args.get("stage", "")
    owner = request.args.get("owner", "")
    if owner == triage.OWNER_ME:
        owner_id: int | None = current_user.id
    else:
        owner_id = None if owner == triage.OWNER_NOBODY else number_arg("owner")
    return triage.TriageFilters(
        category_id=number_arg("category"),
        stage=stage if stage in {s.slug for s in stages} else None,
        organisation_id=number_arg("organisation"),
        owner_id=owner_id,
        unassigned=owner == triage.OWNER_NOBODY,
        overdue=request.args.get("overdue", "") not in ("", "0"),
    )


def _filter_choices(stages: list[Stage]) -> dict[str, Any]:
    return {
        "stages": [s for s in stages if not s.is_closed],
        "categories": catalog.active_categories(),
        "organisations": triage.organisation_choices(),
        "owners": triage.team_members(),
    }


@bp.route("/triage")
@role_required(can_triage)
def queue() -> ResponseReturnValue:
    """The triage inbox: a view of the open ideas (what needs an answer, by default), its
    filters, the built-in and saved views as tabs with counts, and the way into triage mode."""
    return _render_queue()


def _show_all() -> bool:
    return request.args.get("show") == triage.SHOW_ALL


def _render_queue(
    *,
    bulk_form: BulkMoveForm | None = None,
    picked: list[int] | None = None,
    save_form: SavedFilterForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    stages = catalog.stages()
    filters = _filters(stages)
    show_all = _show_all()
    return render_template(
        "team/triage.html",
        queue=None if show_all else triage.queue(filters, viewer=current_user),
        open_ideas=triage.open_ideas(filters, viewer=current_user) if show_all else None,
        filters=filters,
        **_filter_choices(stages),
        **inbox_views.inbox_context(save_form=save_form),
        all_stages=[s for s in stages if not s.retired and not s.is_merged_stage],
        moves_by_stage=pipeline.moves_by_stage(),
        bulk_form=bulk_form,
        picked=set(picked or ()),
    ), status


@bp.route("/triage.csv")
@role_required(can_triage)
def queue_csv() -> ResponseReturnValue:
    filters = _filters(catalog.stages())
    if _show_all():
        body = triage.open_ideas_csv(triage.open_ideas(filters, viewer=current_user))
        return csv_download(body, "open-ideas.csv")
    body = triage.queue_csv(triage.queue(filters, viewer=current_user))
    return csv_download(body, "triage-queue.csv")


@bp.route("/triage/filters/new", methods=["POST"])
@role_required(can_triage)
def save_filter() -> ResponseReturnValue:
    """Save the filters being looked at (the form's address carries them) under a name."""
    form = SavedFilterForm()
    query = inbox_views.current_query()
    done = handle_submission(
        form,
        lambda: saved_filters.save_filter(
            name=form.name.data,
            query=query,
            shared=form.shared.data,
            actor=current_user,
            ip=client_ip(),
        ),
        success="Saved. It is one of your tabs now, with its count.",
        redirect_to=inbox_views.list_url(query),
    )
    return done or _render_queue(save_form=form, status=400)


@bp.route("/dashboard")
@role_required(can_triage)
def dashboard() -> ResponseReturnValue:
    return render_template("team/dashboard.html", d=build_dashboard(viewer=current_user))


@bp.route("/triage/move", methods=["POST"])
@role_required(can_triage)
def move_selected() -> ResponseReturnValue:
    """Move the ticked ideas to one stage with one note: all of them, or none.

    When some of them cannot go there, nothing moves yet: a review page names them and why,
    offers the stages every ticked idea may move to, and moves the others only once the person
    agrees to leave those where they are ("leave" carries exactly the ideas they were shown).
    """
    stages = catalog.stages()
    form = BulkMoveForm()
    form.stage_id.choices = {str(s.id): s.name for s in stages if not s.retired}
    ids = [n for n in (parse_number(v) for v in request.form.getlist("idea_ids")) if n]
    chosen = triage.ideas_by_id(ids) if ids else []
    stage_id = parse_number(form.stage_id.data or "")
    stage = next((s for s in stages if s.id == stage_id and not s.retired), None)
    plan = pipeline.plan_move(chosen, stage)
    leave = {n for n in (parse_number(v) for v in request.form.getlist("leave")) if n}
    if chosen and stage is not None and plan.staying and leave != {s.idea.id for s in plan.staying}:
        return _render_review(form, plan)

    def act() -> list[Idea]:
        if not chosen:
            raise InvalidInput("Tick at least one idea to move.")
        if stage is None:
            raise InvalidInput("Choose a stage.", field="stage_id")
        return pipeline.move_many(
            chosen, stage, actor=current_user, note=form.note.data, ip=client_ip(), leave=leave
        )

    done = handle_submission(
        form,
        act,
        success=_moved_message(plan),
        redirect_to=url_for("team.queue"),
    )
    if done:
        return done
    # Nothing moved: the same page again, with the ticks, the stage and the note kept.
    form.form_errors.extend([*form.stage_id.errors, *form.note.errors])
    if "leave" in request.form:
        return _render_review(form, plan, status=400)
    return _render_queue(bulk_form=form, picked=ids, status=400)


def _moved_message(plan: pipeline.BulkMove) -> str:
    moved = len(plan.moving)
    stayed = len(plan.staying)
    where = f" to {plan.to_stage.name}" if plan.to_stage is not None else ""
    text = f"Moved {moved} idea{'' if moved == 1 else 's'}{where}"
    if stayed:
        text += f"; {stayed} stayed where {'it was' if stayed == 1 else 'they were'}"
    return text + ". Everyone following them is notified with your note."


def _render_review(
    form: BulkMoveForm, plan: pipeline.BulkMove, *, status: int = 200
) -> ResponseReturnValue:
    """Before anything moves: which ticked ideas would stay where they are, and why."""
    return render_template("team/bulk_move.html", form=form, plan=plan), status


# --- Priorities: the team's score, its formula, estimates in place -------------------------

PRIORITY_ARGS = ("category", "stage", "organisation", "owner", "sort")


def _sort() -> str:
    sort = request.args.get("sort", "score")
    return sort if sort in scoring.SORTS else "score"


def _priority_page(*, status: int = 200) -> ResponseReturnValue:
    stages = catalog.stages()
    filters = _filters(stages)
    weights = scoring.weights()
    return render_template(
        "team/priority.html",
        rows=scoring.priority(filters, viewer=current_user, sort=_sort()),
        filters=filters,
        sort=_sort(),
        sorts=scoring.SORTS,
        terms=scoring.formula(weights),
        factors=scoring.FACTORS,
        estimates_form=RowEstimatesForm(formdata=None),
        back=request.query_string.decode("ascii", "replace"),
        **_filter_choices(stages),
    ), status


@bp.route("/priority")
@role_required(can_triage)
def priority() -> ResponseReturnValue:
    return _priority_page()


@bp.route("/priority.csv")
@role_required(can_triage)
def priority_csv() -> ResponseReturnValue:
    rows = scoring.priority(_filters(catalog.stages()), viewer=current_user, sort=_sort())
    return csv_download(scoring.priority_csv(rows), "priority.csv")


def _back_to_priority(back: str | None, idea_id: int | None = None) -> str:
    """The priority view with the filters and order it was posted from: only the names the
    page knows, so `back` can never send anyone elsewhere."""
    given = parse_qs(back or "", max_num_fields=20)
    kept: dict[str, Any] = {name: given[name][0] for name in PRIORITY_ARGS if given.get(name)}
    anchor = f"idea-{idea_id}" if idea_id else None
    return url_for("team.priority", **kept, _anchor=anchor)


@bp.route("/priority/ideas/<id:idea_id>/estimates", methods=["POST"])
@role_required(can_triage)
def save_row_estimates(idea_id: int) -> ResponseReturnValue:
    """Impact and effort from a row of the priority table: a redirect back to the same view,
    or (for the page's script, asking for JSON) the idea's new score."""
    idea = _idea_or_404(idea_id)
    form = RowEstimatesForm()
    error = None
    if not form.validate_on_submit():
        error = "This form is out of date. Reload the page and try again."
    else:
        try:
            values = {
                name: _estimate(getattr(form, name).data, name) for name in ("impact", "effort")
            }
            triage.set_estimates(idea, actor=current_user, ip=client_ip(), **values)
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
        else:
            db.session.commit()
    if wants_json():
        if error:
            return jsonify(error=error), 400
        row = scoring.row_for(idea, viewer=current_user)
        return jsonify(
            idea_id=idea.id,
            impact=idea.impact,
            effort=idea.effort,
            score=f"{row.score:.1f}" if row else None,
            message=f"Saved. {idea.title} now scores {row.score:.1f}." if row else "Saved.",
        )
    if error:
        flash(f"{idea.title}: {error}", "error")
    else:
        flash(f"Estimates saved for {idea.title}.", "success")
    return redirect(_back_to_priority(form.back.data, idea.id), code=303)


def _idea_or_404(idea_id: int) -> Idea:
    try:
        return ideas.get_idea(idea_id, viewer=current_user)
    except ideas.IdeaNotFound:
        abort(404)


def _estimate(raw: str | None, name: str) -> int | None:
    if not raw:
        return None
    value = parse_number(raw)
    if value is None:
        raise InvalidInput("Estimates go from 1 (low) to 5 (high).", field=name)
    return value


@bp.route("/priority/formula", methods=["GET", "POST"])
@role_required(can_triage)
def priority_formula() -> ResponseReturnValue:
    weights = scoring.weights()
    if request.method == "GET":
        form = FormulaForm(
            formdata=None, data={k: scoring.weight_text(v) for k, v in weights.items()}
        )
    else:
        form = FormulaForm()
    done = handle_submission(
        form,
        lambda: scoring.save_weights(
            {f.key: getattr(form, f.key).data for f in scoring.FACTORS},
            actor=current_user,
            ip=client_ip(),
        ),
        success="The priority formula is saved; every score follows it.",
        redirect_to=url_for("team.priority"),
    )
    status = 400 if request.method == "POST" else 200
    return done or (
        render_template(
            "team/priority_formula.html",
            form=form,
            factors=scoring.FACTORS,
            terms=scoring.formula(weights),
            defaults=scoring.formula(scoring.default_weights()),
        ),
        status,
    )
