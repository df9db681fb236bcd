"""The triage queue, as a page and as CSV."""

from flask import Response, render_template, request
from flask_login import current_user
from sqlalchemy import select

from portal.extensions import db
from portal.models import Organisation
from portal.permissions import can_triage, role_required
from portal.services import catalog, triage
from portal.team import bp
from portal.web import parse_number


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
    )


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
