"""Who comes in: a private portal's visitors reach only the ways in, and a browser still holding
a sign-in that has ended is told to forget it."""

from __future__ import annotations

from flask import Response, abort, g, jsonify, make_response, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, logout_user

from portal.auth import bp
from portal.cache import remembered
from portal.permissions import is_signed_in
from portal.services.invites import portal_access
from portal.web import wants_json

# Pages a visitor may open in a private portal: the ways in, and what they need to work.
OPEN_ENDPOINTS = frozenset(
    {
        "auth.sign_in",
        "auth.two_factor",
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
    if request.blueprint == "api":  # a script, not a browser: no sign-in page to go to
        abort(401, "This portal is private: send an API key, as 'Authorization: Bearer <key>'.")
    if wants_json():
        return make_response(jsonify(error="authentication required"), 401)
    next_path = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("auth.sign_in", next=next_path))


@bp.app_context_processor
def access_for_templates() -> dict[str, object]:
    """The sign-in and sign-up pages say how to get into a private portal."""
    return {"portal_access": portal_access}


@bp.after_app_request
def forget_ended_sign_in(response: Response) -> Response:
    """A cookie naming a sign-in that has ended is cleared once, not rewritten on every request.

    When the sign-in behind a browser's cookies has ended (signed out on another device, a new
    password, a suspension, expiry), the person is loaded as nobody, and Flask-Login, finding
    the remember-me cookie, wrote its key back into the session on each request: every answer
    set the session cookie, no page was kept for a visitor whose session was modified, and each
    request looked the ended session up again, twice. Signing out here, as the sign-out page
    does, drops the key from the session and the remember-me cookie from the browser (cleared
    by Flask-Login's own after-request hook, which runs after this one), so from the next
    request on they are a plain visitor. Only when this request loaded the person: a failure
    to load them (the database down) changes nothing.
    """
    if "_login_user" in g and not is_signed_in(g._login_user) and "_user_id" in session:
        logout_user()
    return response
