"""Webhooks for admins: endpoints, their secrets, test events and delivery logs."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from portal.admin import bp
from portal.admin.forms import ActionForm, button_action
from portal.admin.webhook_forms import LocalHostsForm, WebhookForm
from portal.extensions import db
from portal.forms import handle_submission
from portal.models import OutboxStatus, WebhookDelivery, WebhookEndpoint
from portal.permissions import can_manage_webhooks
from portal.services import webhooks
from portal.web import client_ip, number_arg, role_required

PER_PAGE = 50
STATUS_LABELS = {
    OutboxStatus.PENDING: "Waiting",
    OutboxStatus.SENDING: "Sending",
    OutboxStatus.SENT: "Delivered",
    OutboxStatus.SKIPPED: "Not sent",
    OutboxStatus.FAILED: "Failed",
}


@bp.route("/webhooks")
@role_required(can_manage_webhooks)
def webhooks_list() -> ResponseReturnValue:
    return _list_page()


def _list_page(form: LocalHostsForm | None = None, status: int = 200) -> tuple[str, int]:
    endpoints = webhooks.endpoints()
    if form is None:
        form = LocalHostsForm(formdata=None, data={"local_hosts": webhooks.local_hosts()})
    return render_template(
        "admin/webhooks/list.html",
        endpoints=endpoints,
        counts=webhooks.counts_by_status(e.id for e in endpoints),
        form=form,
        labels=STATUS_LABELS,
    ), status


@bp.route("/webhooks/local-hosts", methods=["POST"])
@role_required(can_manage_webhooks)
def webhook_local_hosts() -> ResponseReturnValue:
    form = LocalHostsForm()
    done = handle_submission(
        form,
        lambda: webhooks.update_local_hosts(
            form.local_hosts.data or "", actor=current_user, ip=client_ip()
        ),
        success="The hosts allowed on the local network are saved.",
        redirect_to=url_for("admin.webhooks_list"),
    )
    return done or _list_page(form, status=400)


def _chosen_events() -> list[str]:
    return [e for e in request.form.getlist("events") if e in webhooks.EVENT_TYPES]


def _form_page(
    form: WebhookForm, endpoint: WebhookEndpoint | None, events: list[str], status: int = 200
) -> tuple[str, int]:
    return render_template(
        "admin/webhooks/form.html",
        form=form,
        endpoint=endpoint,
        events=events,
        event_types=webhooks.EVENT_TYPES,
    ), status


@bp.route("/webhooks/new", methods=["GET", "POST"])
@role_required(can_manage_webhooks)
def new_webhook() -> ResponseReturnValue:
    form = WebhookForm()
    if request.method == "GET":
        return _form_page(form, None, list(webhooks.EVENT_TYPES))
    events = _chosen_events()
    done = handle_submission(
        form,
        lambda: webhooks.create_endpoint(
            actor=current_user,
            ip=client_ip(),
            url=form.url.data or "",
            description=form.description.data or "",
            format=form.format.data or "",
            events=events,
            vote_thresholds=form.vote_thresholds.data or "",
            audience=form.audience.data or "",
        ),
        success="Webhook added. Reveal its signing secret below to set up the receiver, "
        "then send it a test event.",
        redirect_to=lambda endpoint: url_for("admin.webhook_endpoint", endpoint_id=endpoint.id),
    )
    return done or _form_page(form, None, events, status=400)


def _endpoint_page(
    endpoint: WebhookEndpoint,
    form: WebhookForm | None = None,
    *,
    events: list[str] | None = None,
    secret: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    if form is None:
        form = WebhookForm(
            formdata=None,
            data={
                "url": endpoint.url,
                "description": endpoint.description,
                "format": endpoint.format,
                "vote_thresholds": ", ".join(str(n) for n in endpoint.vote_thresholds or []),
                "audience": endpoint.audience,
                "enabled": endpoint.enabled,
            },
        )
    log = webhooks.deliveries(
        endpoint, page=number_arg("page", maximum=100_000) or 1, per_page=PER_PAGE
    )
    return render_template(
        "admin/webhooks/endpoint.html",
        endpoint=endpoint,
        form=form,
        events=endpoint.events if events is None else events,
        event_types=webhooks.EVENT_TYPES,
        formats=webhooks.FORMAT_LABELS,
        log=log,
        attempts=webhooks.attempts_of(d.id for d in log.items),
        labels=STATUS_LABELS,
        action_form=ActionForm(),
        secret=secret,
        previous_signs_until=webhooks.previous_signs_until(endpoint),
    ), status


@bp.route("/webhooks/<id:endpoint_id>", methods=["GET", "POST"])
@role_required(can_manage_webhooks)
def webhook_endpoint(endpoint_id: int) -> ResponseReturnValue:
    endpoint = db.get_or_404(WebhookEndpoint, endpoint_id)
    if request.method == "GET":
        return _endpoint_page(endpoint)
    form = WebhookForm()
    events = _chosen_events()
    done = handle_submission(
        form,
        lambda: webhooks.update_endpoint(
            endpoint,
            actor=current_user,
            ip=client_ip(),
            url=form.url.data or "",
            description=form.description.data or "",
            format=form.format.data or "",
            events=events,
            vote_thresholds=form.vote_thresholds.data or "",
            enabled=bool(form.enabled.data),
            audience=form.audience.data or "",
        ),
        success="Webhook saved.",
        redirect_to=url_for("admin.webhook_endpoint", endpoint_id=endpoint.id),
    )
    if done:
        return done
    db.session.refresh(endpoint)
    return _endpoint_page(endpoint, form, events=events, status=400)


def _act(endpoint: WebhookEndpoint, action: Callable[[], object], success: str) -> BaseResponse:
    """A button on the endpoint page: act, say so, and back to the page."""
    return button_action(
        action, success, back=url_for("admin.webhook_endpoint", endpoint_id=endpoint.id)
    )


@bp.route("/webhooks/<id:endpoint_id>/secret", methods=["POST"])
@role_required(can_manage_webhooks)
def reveal_webhook_secret(endpoint_id: int) -> ResponseReturnValue:
    """The secret, shown on a page answered to a POST (never a link, never kept by caches)."""
    endpoint = db.get_or_404(WebhookEndpoint, endpoint_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    secret = webhooks.reveal_secret(endpoint, actor=current_user, ip=client_ip())
    db.session.commit()
    body, status = _endpoint_page(endpoint, secret=secret)
    return body, status, {"Cache-Control": "no-store"}


@bp.route("/webhooks/<id:endpoint_id>/rotate", methods=["POST"])
@role_required(can_manage_webhooks)
def rotate_webhook_secret(endpoint_id: int) -> BaseResponse:
    endpoint = db.get_or_404(WebhookEndpoint, endpoint_id)
    return _act(
        endpoint,
        lambda: webhooks.rotate_secret(endpoint, actor=current_user, ip=client_ip()),
        "New secret made. Deliveries carry a signature by the old one too for the next "
        "24 hours: update the receiver before then.",
    )


@bp.route("/webhooks/<id:endpoint_id>/test", methods=["POST"])
@role_required(can_manage_webhooks)
def test_webhook(endpoint_id: int) -> BaseResponse:
    endpoint = db.get_or_404(WebhookEndpoint, endpoint_id)
    return _act(
        endpoint,
        lambda: webhooks.send_test(endpoint, actor=current_user, ip=client_ip()),
        "A test event is on its way; its delivery shows in the log below.",
    )


@bp.route("/webhooks/<id:endpoint_id>/enable", methods=["POST"])
@role_required(can_manage_webhooks)
def enable_webhook(endpoint_id: int) -> BaseResponse:
    endpoint = db.get_or_404(WebhookEndpoint, endpoint_id)
    return _act(
        endpoint,
        lambda: webhooks.enable(endpoint, actor=current_user, ip=client_ip()),
        "The webhook is enabled again. Failed deliveries can be sent again from the log.",
    )


@bp.route("/webhooks/<id:endpoint_id>/delete", methods=["GET", "POST"])
@role_required(can_manage_webhooks)
def delete_webhook(endpoint_id: int) -> ResponseReturnValue:
    """GET: what deleting would remove, with the button; POST (that button) deletes."""
    endpoint = db.get_or_404(WebhookEndpoint, endpoint_id)
    if request.method == "GET":
        return render_template(
            "admin/webhooks/delete.html",
            endpoint=endpoint,
            logged=webhooks.delivery_count(endpoint),
            action_form=ActionForm(),
        )
    if not ActionForm().validate_on_submit():
        abort(400)
    webhooks.delete_endpoint(endpoint, actor=current_user, ip=client_ip())
    db.session.commit()
    flash("Webhook deleted, with its delivery log.", "success")
    return redirect(url_for("admin.webhooks_list"), code=303)


@bp.route("/webhooks/deliveries/<id:delivery_id>/resend", methods=["POST"])
@role_required(can_manage_webhooks)
def resend_webhook_delivery(delivery_id: int) -> BaseResponse:
    row = db.get_or_404(WebhookDelivery, delivery_id)
    endpoint = db.session.get_one(WebhookEndpoint, row.endpoint_id)
    return _act(
        endpoint,
        lambda: webhooks.send_again(row, actor=current_user, ip=client_ip()),
        f"Delivery #{row.id} will be sent again shortly.",
    )
