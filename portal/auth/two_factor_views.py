"""The second step of signing in: a code from the authenticator app, or setting it up.

After the right password, someone with two-factor on (or for whom it is required) has no
session yet: the Flask session holds only who they are, whether to keep them signed in, where
they were going and what they came to do, and when this began (limits.TWO_FACTOR_PENDING).
It expires after TWO_FACTOR_PENDING_MAX_AGE. The session starts here, once a code is right.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import RequestLimit
from flask_login import current_user

from portal import intent, limits
from portal.auth import bp
from portal.auth.views import signed_in
from portal.extensions import db
from portal.forms import TwoFactorSetupForm, TwoFactorSignInForm, setup_context, setup_secret
from portal.models import User
from portal.permissions import is_signed_in
from portal.services import two_factor
from portal.services.errors import InvalidInput
from portal.web import client_ip, user_agent

EXPIRED = "Signing in took too long, so it was stopped. Sign in again."


def _pending() -> tuple[User, dict[str, Any]] | None:
    """Who is between their password and their code, if anyone (and not for too long)."""
    pending = session.get(limits.TWO_FACTOR_PENDING)
    if not isinstance(pending, dict):
        return None
    user = db.session.get(User, pending.get("user")) if pending.get("user") else None
    if two_factor.pending_expired(pending.get("started")) or user is None or user.is_suspended:
        session.pop(limits.TWO_FACTOR_PENDING, None)
        return None
    return user, pending


def _page(user: User, form: Any, *, status: int = 200, rate_limited: str | None = None) -> Any:
    context: dict[str, Any] = {"form": form, "person": user, "rate_limited": rate_limited}
    if not user.two_factor_on:
        context |= setup_context(user)
    return current_app.make_response((render_template("auth/two_factor.html", **context), status))


def _too_many(limit: RequestLimit) -> Response:
    found = _pending()
    if found is None:
        return current_app.make_response(redirect(url_for("auth.sign_in")))
    user = found[0]
    form = (TwoFactorSignInForm if user.two_factor_on else TwoFactorSetupForm)(formdata=None)
    response: Response = _page(user, form, status=429, rate_limited=limits.wait_phrase(limit))
    return response


@bp.route("/sign-in/two-factor", methods=["GET", "POST"], endpoint="two_factor")
@limits.two_factor_limits(_too_many)
def two_factor_step() -> ResponseReturnValue:
    if is_signed_in(current_user):
        return redirect(url_for("main.home"))
    began = limits.TWO_FACTOR_PENDING in session
    found = _pending()
    if found is None:
        if began:
            flash(EXPIRED, "error")
        return redirect(url_for("auth.sign_in"), code=303)
    user, pending = found
    offered = intent.offered(pending.get("intent"), pending.get("idea"))
    remember = bool(pending.get("remember"))
    if not user.two_factor_on:
        return _set_up(user, pending, offered, remember)
    form = TwoFactorSignInForm()
    if form.validate_on_submit():
        try:
            how = two_factor.check_sign_in_code(user, form.code.data, ip=client_ip())
        except InvalidInput as exc:
            db.session.commit()  # the audit row of the wrong code
            limits.code_failed()
            form.code.errors = [exc.message]
            return _page(user, form, status=400)
        device = None
        if form.remember_device.data:
            device = two_factor.remember_device(user, user_agent=user_agent())
        response = signed_in(
            user,
            remember=remember,
            offered=offered,
            next_=pending.get("next"),
            method=str(pending.get("method") or "password"),
        )
        if how == "recovery":
            left = two_factor.recovery_codes_left(user)
            flash(
                f"You signed in with a recovery code; {left} are left. "
                "Make a new set from your account page if you are running low.",
                "success",
            )
        if device is not None:
            token, expires = device
            response.set_cookie(
                current_app.config["TWO_FACTOR_DEVICE_COOKIE_NAME"],
                token,
                expires=expires,
                httponly=True,
                secure=bool(current_app.config["REMEMBER_COOKIE_SECURE"]),
                samesite="Lax",
            )
        return response
    return _page(user, form, status=400 if request.method == "POST" else 200)


def _set_up(
    user: User, pending: dict[str, Any], offered: intent.Intent | None, remember: bool
) -> ResponseReturnValue:
    """Required for them and not set up yet: set it up now, then they are signed in."""
    form = TwoFactorSetupForm()
    if not form.validate_on_submit():
        return _page(user, form, status=400 if request.method == "POST" else 200)
    try:
        codes = two_factor.confirm_setup(
            user, setup_secret(user.id), form.code.data, ip=client_ip()
        )
    except InvalidInput as exc:
        db.session.commit()
        limits.code_failed()
        form.code.errors = [exc.message]
        return _page(user, form, status=400)
    going = signed_in(
        user,
        remember=remember,
        offered=offered,
        next_=pending.get("next"),
        method=str(pending.get("method") or "password"),
    )
    flash("Two-factor sign-in is on.", "success")
    return render_template("account/recovery_codes.html", codes=codes, then=going.location)
