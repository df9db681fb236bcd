"""The team's view of organisations: their people, their ideas, the ideas they back."""

from flask import render_template
from flask_login import current_user

from portal.extensions import db
from portal.models import Organisation
from portal.organisations import bp
from portal.permissions import can_see_organisations
from portal.services import organisations
from portal.web import role_required


@bp.route("")
@role_required(can_see_organisations)
def index() -> str:
    return render_template(
        "organisations/index.html", rows=organisations.overview(viewer=current_user)
    )


@bp.route("/<id:organisation_id>")
@role_required(can_see_organisations)
def detail(organisation_id: int) -> str:
    organisation = db.get_or_404(Organisation, organisation_id)
    return render_template(
        "organisations/detail.html", info=organisations.detail(organisation, viewer=current_user)
    )
