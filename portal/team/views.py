"""The team's own pages: the triage queue, moving several ideas, the dashboard, priorities."""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.downloads import csv_download
from portal.forms import handle_submission
from portal.models import Idea, Stage
from portal.permissions import can_triage
from portal.services import catalog, pipeline, triage
from portal.services.dashboard import dashboard as build_dashboard
from portal.services.errors import InvalidInput
from portal.team import bp
from portal.team.forms import BulkMoveForm
from portal.web import client_ip, number_arg, parse_number, role_required


def _filters(stages: list[Stage]) -> triage.TriageFilters:
    stage = request.args.get("stage", "")
    me = request.args.get("owner") == "me"
    return triage.TriageFilters(
        category_id=number_arg("category"),
        stage=stage if stage in {s.slug for s in stages} else None,
        organisation_id=number_arg("organisation"),
        owner_id=current_user.id if me else number_arg("owner"),
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
    return _render_queue()


def _render_queue(
    *, bulk_form: BulkMoveForm | None = None, picked: list[int] | None = None, status: int = 200
) -> ResponseReturnValue:
    stages = catalog.stages()
    filters = _filters(stages)
    return render_template(
        "team/triage.html",
        queue=triage.queue(filters, viewer=current_user),
        filters=filters,
        **_filter_choices(stages),
        all_stages=[s for s in stages if not s.retired and not s.is_merged_stage],
        moves_by_stage=pipeline.moves_by_stage(),
        bulk_form=bulk_form,
        picked=set(picked or ()),
    ), status


@bp.route("/triage.csv")
@role_required(can_triage)
def queue_csv() -> ResponseReturnValue:
    body = triage.queue_csv(triage.queue(_filters(catalog.stages()), viewer=current_user))
    return csv_download(body, "triage-queue.csv")


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


@bp.route("/priority")
@role_required(can_triage)
def priority() -> ResponseReturnValue:
    stages = catalog.stages()
    filters = _filters(stages)
    return render_template(
        "team/priority.html",
        rows=triage.priority(filters, viewer=current_user),
        filters=filters,
        **_filter_choices(stages),
    )


@bp.route("/priority.csv")
@role_required(can_triage)
def priority_csv() -> ResponseReturnValue:
    body = triage.priority_csv(triage.priority(_filters(catalog.stages()), viewer=current_user))
    return csv_download(body, "priority.csv")
