"""Routes for a person's notifications: the list, and marking them read."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.extensions import db
from portal.ideas import bp
from portal.ideas.common import back
from portal.ideas.forms import ActionForm
from portal.services import notifications
from portal.web import login_required


@bp.route("/notifications")
@login_required
def notifications_page() -> ResponseReturnValue:
    return render_template(
        "ideas/notifications.html",
        items=notifications.notifications_for(current_user),
        action_form=ActionForm(),
    )


@bp.route("/notifications/<id:notification_id>/read", methods=["POST"])
@login_required
def read_notification(notification_id: int) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    notifications.mark_read(current_user, notification_id)
    db.session.commit()
    return redirect(back(url_for("ideas.notifications_page")), code=303)


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def read_all_notifications() -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    count = notifications.mark_read(current_user)
    db.session.commit()
    flash(f"Marked {count} notification{'s' if count != 1 else ''} as read.", "success")
    return redirect(url_for("ideas.notifications_page"), code=303)
