"""Admin settings: how the roadmap speaks of time (now, next, later; or calendar quarters)."""

from __future__ import annotations

from flask import render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField
from wtforms.validators import InputRequired

from portal.admin import bp
from portal.forms import handle_submission
from portal.permissions import can_configure_site
from portal.services import roadmap
from portal.web import client_ip, role_required


class TimeframeSchemeForm(FlaskForm):
    scheme = RadioField(
        "Timeframes customers see on the roadmap",
        choices=dict(roadmap.SCHEMES),
        validators=[InputRequired(message="Choose how the roadmap speaks of time.")],
    )


@bp.route("/settings/roadmap", methods=["GET", "POST"])
@role_required(can_configure_site)
def roadmap_settings() -> ResponseReturnValue:
    form = TimeframeSchemeForm(data={"scheme": roadmap.timeframe_scheme()})
    done = handle_submission(
        form,
        lambda: roadmap.set_timeframe_scheme(form.scheme.data, actor=current_user, ip=client_ip()),
        success="Saved. Product managers now pick timeframes this way on each idea's team panel.",
        redirect_to=url_for("admin.roadmap_settings"),
    )
    if done:
        return done
    return render_template("admin/settings/roadmap.html", form=form), 400 if form.errors else 200
