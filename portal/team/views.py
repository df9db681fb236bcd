"""The triage queue, as a page and as CSV."""

from flask import Response, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.extensions import db
from portal.forms import handle_submission
from portal.ideas.forms import MoveForm as BulkMoveForm
from portal.models import Idea, Organisation, Stage
from portal.permissions import can_triage, role_required
from portal.services import catalog, pipeline, triage
from portal.services.errors import InvalidInput
from portal.team import bp
from portal.web import client_ip, parse_number


def _filters() -> triage.TriageFilters:
    stage = request.args.get("stage", "")
    return triage.TriageFilters(
        category_id=parse_number(request.args.get("category")),
        stage=stage if stage in {s.slug for s in catalog.stages()} else None,
        organisation_id=parse_number(request.args.get("organisation")),
    )


@bp.route("/triage")
@role_required(can_triage)
def queue():
    return _render_queue()


def _render_queue(*, bulk_form=None, picked=(), status=200):
    filters = _filters()
    return render_template(
        "team/triage.html",
        queue=triage.queue(filters, viewer=current_user),
        filters=filters,
        stages=[s for s in catalog.stages() if not s.is_closed],
        categories=catalog.active_categories(),
        organisations=db.session.execute(
            select(Organisation.id, Organisation.name).order_by(Organisation.name)
        ).all(),
        all_stages=[s for s in catalog.stages() if not s.retired and s.slug != "merged"],
        bulk_form=bulk_form,
        picked=set(picked),
    ), status


@bp.route("/triage.csv")
@role_required(can_triage)
def queue_csv():
    body = triage.queue_csv(triage.queue(_filters(), viewer=current_user))
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
    form.stage_id.choices = [(str(s.id), s.name) for s in catalog.stages() if not s.retired]
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
