"""The outbox for admins: what was sent, what is waiting, what gave up, and each message."""

from __future__ import annotations

from email import message_from_string, policy

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.admin import bp
from portal.admin.forms import ActionForm, OutboxSearchForm
from portal.extensions import db
from portal.mail import outbox as mail_outbox
from portal.mail.compose import SECRET_KINDS
from portal.mail.outbox import retry
from portal.models import OutboxMessage, OutboxStatus
from portal.permissions import can_manage_outbox
from portal.web import number_arg, role_required

PER_PAGE = 50
STATUS_LABELS = {
    OutboxStatus.PENDING: "Waiting",
    OutboxStatus.SENDING: "Sending",
    OutboxStatus.SENT: "Sent",
    OutboxStatus.SKIPPED: "Skipped",
    OutboxStatus.FAILED: "Gave up",
}


@bp.route("/outbox")
@role_required(can_manage_outbox)
def outbox() -> str:
    form = OutboxSearchForm(request.args)
    form.validate()
    kinds = mail_outbox.kinds()
    form.kind.choices = [("", "Any kind")] + [(k, k.replace("_", " ")) for k in kinds]
    form.status.choices = [("", "Any status")] + [
        (s.value, STATUS_LABELS[s]) for s in mail_outbox.LISTED_STATUSES
    ]
    filters = mail_outbox.OutboxFilters(
        recipient=(form.q.data or "")[:254],
        status=form.status.data or None,
        kind=form.kind.data if form.kind.data in kinds else None,
    )
    failed, recent = mail_outbox.failed_and_recent(
        filters, page_number=number_arg("page", maximum=100_000) or 1, per_page=PER_PAGE
    )
    return render_template(
        "admin/outbox.html",
        form=form,
        filtered=bool(filters.recipient.strip() or filters.status or filters.kind),
        failed=failed,
        recent=recent,
        action_form=ActionForm(),
    )


def _parts(row: OutboxMessage) -> tuple[str | None, str | None]:
    """The stored message's plain text and HTML, if it is still kept."""
    if not row.body:
        return None, None
    msg = message_from_string(row.body, policy=policy.default)
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    return (text.get_content() if text else None), (html.get_content() if html else None)


@bp.route("/outbox/<id:message_id>")
@role_required(can_manage_outbox)
def outbox_message(message_id: int) -> str:
    row = db.get_or_404(OutboxMessage, message_id)
    text, _html = _parts(row)
    if row.kind in SECRET_KINDS and current_app.config["MAIL_SERVER"]:
        # A one-time link for someone else's account: with a real mail server, it is theirs
        # alone. (Without one, the offline demo needs admins to read it here.)
        text = None
    return render_template(
        "admin/outbox_message.html",
        row=row,
        text=text,
        action_form=ActionForm(),
    )


@bp.route("/outbox/<id:message_id>/retry", methods=["POST"])
@role_required(can_manage_outbox)
def retry_message(message_id: int) -> BaseResponse:
    row = db.get_or_404(OutboxMessage, message_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    if row.status != OutboxStatus.FAILED:
        flash("Only a message that gave up can be sent again.", "error")
    else:
        retry(row)
        db.session.commit()
        flash("The message will be sent again shortly.", "success")
    return redirect(url_for("admin.outbox"), code=303)
