"""The triage queue, as a page and as CSV."""

from flask import Response, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.extensions import db
from portal.forms import handle_submission
from portal.ideas.forms import MoveForm as BulkMoveForm
from portal.models import Idea, Organisation, Stage, User
from portal.permissions import can_triage
from portal.services import catalog, pipeline, triage
from portal.services.errors import InvalidInput
from portal.team import bp
from portal.team.forms import EstimatesForm, InternalNoteForm, OwnerForm
from portal.web import client_ip, parse_number, role_required


def _filters(stages) -> triage.TriageFilters:
    stage = request.args.get("stage", "")
    owner = request.args.get("owner", "")
    return triage.TriageFilters(
        category_id=parse_number(request.args.get("category")),
        stage=stage if stage in {s.slug for s in stages} else None,
        organisation_id=parse_number(request.args.get("organisation")),
        owner_id=current_user.id if owner == "me" else parse_number(owner),
    )


def _filter_choices(stages) -> dict:
    return {
        "stages": [s for s in stages if not s.is_closed],
        "categories": catalog.active_categories(),
        "organisations": db.session.execute(
            select(Organisation.id, Organisation.name).order_by(Organisation.name)
        ).all(),
        "owners": triage.team_members(),
    }


@bp.route("/triage")
@role_required(can_triage)
def queue():
    return _render_queue()


def _render_queue(*, bulk_form=None, picked=(), status=200):
    stages = catalog.stages()
    filters = _filters(stages)
    return render_template(
        "team/triage.html",
        queue=triage.queue(filters, viewer=current_user),
        filters=filters,
        **_filter_choices(stages),
        all_stages=[s for s in stages if not s.retired and not s.is_merged_stage],
        bulk_form=bulk_form,
        picked=set(picked),
    ), status


@bp.route("/triage.csv")
@role_required(can_triage)
def queue_csv():
    body = triage.queue_csv(triage.queue(_filters(catalog.stages()), viewer=current_user))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="triage-queue.csv"'},
    )


@bp.route("/dashboard")
@role_required(can_triage)
def dashboard():
    from portal.services.dashboard import dashboard as build

    return render_template("team/dashboard.html", d=build(viewer=current_user))


@bp.route("/triage/move", methods=["POST"])
@role_required(can_triage)
def move_selected():
    """Move the ticked ideas to one stage with one note: all of them, or none."""
    form = BulkMoveForm()
    form.stage_id.choices = {str(s.id): s.name for s in catalog.stages() if not s.retired}
    ids = [n for n in (parse_number(v) for v in request.form.getlist("idea_ids")) if n]

    def act():
        if not ids:
            raise InvalidInput("Tick at least one idea to move.")
        chosen = [i for i in db.session.scalars(select(Idea).where(Idea.id.in_(ids))).unique()]
        stage = db.session.get(Stage, parse_number(form.stage_id.data) or 0)
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


# --- Team tools on one idea -----------------------------------------------------------------


def _team_idea(idea_id: int) -> Idea:
    return db.get_or_404(Idea, idea_id)


def _back_to_idea(idea: Idea) -> str:
    return url_for("ideas.detail", idea_id=idea.id, _anchor="team-title")


@bp.route("/ideas/<id:idea_id>/owner", methods=["POST"])
@role_required(can_triage)
def set_owner(idea_id: int):
    idea = _team_idea(idea_id)
    form = OwnerForm()

    def act():
        owner_id = parse_number(form.owner_id.data)
        owner = db.session.get(User, owner_id) if owner_id else None
        if form.owner_id.data and owner is None:
            raise InvalidInput("Choose one of the listed team members.", field="owner_id")
        triage.assign_owner(idea, owner, actor=current_user, ip=client_ip())

    return handle_submission(
        form, act, success="Owner saved.", redirect_to=_back_to_idea(idea)
    ) or _rerender(idea, owner_form=form)


@bp.route("/ideas/<id:idea_id>/estimates", methods=["POST"])
@role_required(can_triage)
def set_estimates(idea_id: int):
    idea = _team_idea(idea_id)
    form = EstimatesForm()

    def act():
        values = {}
        for name in ("impact", "effort"):
            raw = getattr(form, name).data
            values[name] = parse_number(raw) if raw else None
            if raw and values[name] is None:
                raise InvalidInput("Estimates go from 1 (low) to 5 (high).", field=name)
        triage.set_estimates(idea, actor=current_user, **values)

    return handle_submission(
        form, act, success="Estimates saved.", redirect_to=_back_to_idea(idea)
    ) or _rerender(idea, estimates_form=form)


@bp.route("/ideas/<id:idea_id>/notes", methods=["POST"])
@role_required(can_triage)
def add_note(idea_id: int):
    idea = _team_idea(idea_id)
    form = InternalNoteForm()
    return handle_submission(
        form,
        lambda: triage.add_internal_note(idea, actor=current_user, body=form.body.data),
        success="Internal note added. Customers never see it.",
        redirect_to=_back_to_idea(idea),
    ) or _rerender(idea, note_form=form)


def _rerender(idea: Idea, **forms):
    from portal.ideas.views import _render_detail

    return _render_detail(idea, status=400, **forms)


@bp.route("/priority")
@role_required(can_triage)
def priority():
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
def priority_csv():
    body = triage.priority_csv(triage.priority(_filters(catalog.stages()), viewer=current_user))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="priority.csv"'},
    )
