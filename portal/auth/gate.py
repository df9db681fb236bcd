"""A private portal: visitors who are not signed in reach only the ways in."""

from __future__ import annotations

from flask import abort, jsonify, make_response, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.auth import bp
from portal.cache import remembered
from portal.permissions import is_signed_in
from portal.services.invites import portal_access
from portal.web import wants_json

# Pages a visitor may open in a private portal: the ways in, and what they need to work.
OPEN_ENDPOINTS = frozenset(
    {
        "auth.sign_in",
        "auth.sign_up",
        "auth.check_email",
        "auth.verify_email",
        "auth.resend_confirmation",
        "auth.forgot_password",
        "auth.reset_password",
        "auth.invite",
        "auth.sign_out",
        # Links in emails that work without signing in, by their signed token: one-click
        # unsubscribe must never need a password, and the outcome answer is the person's own.
        "account.email_unsubscribe",
        "account.email_outcome",
        "main.guidelines",  # sign-up asks people to accept them
        "main.stage_colours",
        "observability.healthz",
        "observability.metrics",  # off unless configured, and then guarded on its own
        "static",
    }
)
FEED_ENDPOINTS = frozenset(
    {"main.ideas_feed", "main.idea_feed", "main.shipped_feed", "main.board_feed"}
)


@bp.before_app_request
def private_portal_gate() -> ResponseReturnValue | None:
    """In a private portal, send visitors to sign in (feeds and unknown addresses: 404)."""
    if request.endpoint in OPEN_ENDPOINTS or is_signed_in(current_user):
        return None
    # Read once per write anywhere, not per request: every visitor's request asks.
    if not remembered("portal_access", portal_access).private:
        return None
    if request.endpoint is None or request.endpoint in FEED_ENDPOINTS:
        abort(404)
    if wants_json():
        return make_response(jsonify(error="authentication required"), 401)
    next_path = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.sign_in", next=next_path))


@bp.app_context_processor
def access_for_templates() -> dict[str, object]:
    """The sign-in and sign-up pages say how to get into a private portal."""
    return {"portal_access": portal_access}
