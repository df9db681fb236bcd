"""The team's own pages: the triage inbox, moving several ideas, the dashboard, priorities."""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.downloads import csv_download
from portal.forms import handle_submission
from portal.models import Stage
from portal.permissions import can_triage
from portal.services import catalog, pipeline, saved_filters, triage
from portal.services.dashboard import dashboard as build_dashboard
from portal.services.errors import InvalidInput
from portal.team import bp, inbox_views
from portal.team.forms import BulkMoveForm, SavedFilterForm
from portal.web import client_ip, number_arg, parse_number, role_required


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
    """Move the ticked ideas to one stage with one note: all of them, or none."""
    stages = catalog.stages()
    form = BulkMoveForm()
    form.stage_id.choices = {str(s.id): s.name for s in stages if not s.retired}
    ids = [n for n in (parse_number(v) for v in request.form.getlist("idea_ids")) if n]

    def act() -> int:
        if not ids:
            raise InvalidInput("Tick at least one idea to move.")
        chosen = triage.ideas_by_id(ids)
        stage_id = parse_number(form.stage_id.data)
        stage = next((s for s in stages if s.id == stage_id), None)
        if stage is None:
            raise InvalidInput("Choose a stage.", field="stage_id")
        pipeline.move_many(chosen, stage, actor=current_user, note=form.note.data, ip=client_ip())
        return len(chosen)

    done = handle_submission(
        form,
        act,
        success="Moved. Everyone following those ideas is notified with your note.",
        redirect_to=url_for("team.queue"),
    )
    # Nothing moved: the same page again, with the ticks, the stage and the note kept.
    if done:
        return done
    form.form_errors.extend([*form.stage_id.errors, *form.note.errors])
    return _render_queue(bulk_form=form, picked=ids, status=400)


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
