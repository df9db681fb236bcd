"""Routes for a person's notifications: the list by idea, opening one, and marking them read."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.database import writing
from portal.extensions import db
from portal.ideas import bp
from portal.ideas.common import back
from portal.ideas.forms import ActionForm
from portal.models import Idea, NotificationKind
from portal.services import inbox
from portal.web import login_required


@bp.route("/notifications")
@login_required
def notifications_page() -> ResponseReturnValue:
    unread_only = request.args.get("unread") == "1"
    return render_template(
        "ideas/notifications.html",
        groups=inbox.grouped(current_user, unread_only=unread_only),
        unread_only=unread_only,
        unread_total=inbox.unread_count(current_user),
        action_form=ActionForm(),
    )


def read_news_about(idea: Idea) -> None:
    """The person looking at an idea has seen its news: their notifications about it are read.

    Writes only when there is something unread, so most views of an idea stay pure reads.
    """
    if current_user.is_authenticated and inbox.has_unread_about(current_user, idea):
        with writing():
            inbox.mark_read_about(current_user, idea)


@bp.route("/notifications/<id:notification_id>")
@login_required
def open_notification(notification_id: int) -> ResponseReturnValue:
    """Follow a notification: it is read, and the person lands where it points.

    A GET, so that it is a plain link (opened in a new tab, without JavaScript); its one effect
    is to mark the person's own notification read, which is safe to repeat.
    """
    found = inbox.target(current_user, notification_id)
    if found is None:
        abort(404)
    idea_id, comment_id, kind = found
    with writing():
        inbox.mark_read(current_user, notification_id)
    if idea_id is None:
        return redirect(url_for("ideas.notifications_page"), code=303)
    if comment_id is not None:
        anchor: str | None = f"comment-{comment_id}"
    elif kind == NotificationKind.OUTCOME_QUESTION:
        anchor = "outcome"
    else:
        anchor = None
    return redirect(url_for("ideas.detail", idea_id=idea_id, _anchor=anchor), code=303)


@bp.route("/notifications/<id:notification_id>/read", methods=["POST"])
@login_required
def read_notification(notification_id: int) -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    inbox.mark_read(current_user, notification_id)
    db.session.commit()
    return redirect(back(url_for("ideas.notifications_page")), code=303)


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def read_all_notifications() -> ResponseReturnValue:
    if not ActionForm().validate_on_submit():
        abort(400)
    count = inbox.mark_read(current_user)
    db.session.commit()
    flash(f"Marked {count} notification{'s' if count != 1 else ''} as read.", "success")
    return redirect(back(url_for("ideas.notifications_page")), code=303)
