"""Two-factor sign-in on a person's own account: set it up, new recovery codes, turn it off."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import RequestLimit
from flask_login import current_user
from flask_wtf import FlaskForm

from portal import limits
from portal.account import bp
from portal.extensions import db
from portal.forms import (
    TwoFactorOffForm,
    TwoFactorSetupForm,
    forget_setup_secret,
    setup_context,
    setup_secret,
)
from portal.services import two_factor
from portal.services.errors import InvalidInput
from portal.web import client_ip, login_required


def _page(
    *,
    setup_form: TwoFactorSetupForm | None = None,
    off_form: TwoFactorOffForm | None = None,
    status: int = 200,
    rate_limited: str | None = None,
) -> tuple[str, int]:
    user = current_user
    context: dict[str, Any] = {
        "required": two_factor.is_required(user),
        "rate_limited": rate_limited,
        "action_form": FlaskForm(),
    }
    if user.two_factor_on:
        context |= {
            "off_form": off_form or TwoFactorOffForm(formdata=None),
            "codes_left": two_factor.recovery_codes_left(user),
        }
    else:
        context |= {
            "form": setup_form or TwoFactorSetupForm(formdata=None),
            **setup_context(user),
        }
    return render_template("account/two_factor.html", **context), status


def _too_many(limit: RequestLimit) -> Response:
    page, _ = _page(status=429, rate_limited=limits.wait_phrase(limit))
    return current_app.make_response((page, 429))


@bp.route("/two-factor", methods=["GET", "POST"], endpoint="two_factor")
@login_required
@limits.two_factor_limits(_too_many)
def two_factor_setup() -> ResponseReturnValue:
    if current_user.two_factor_on:
        return _page()
    form = TwoFactorSetupForm()
    if not form.validate_on_submit():
        return _page(setup_form=form, status=400 if form.is_submitted() else 200)
    try:
        codes = two_factor.confirm_setup(
            current_user, setup_secret(current_user.id), form.code.data, ip=client_ip()
        )
    except InvalidInput as exc:
        db.session.commit()  # the audit row of the wrong code; the secret stays the same
        limits.code_failed()
        form.code.errors = [exc.message]
        return _page(setup_form=form, status=400)
    db.session.commit()
    forget_setup_secret()
    flash("Two-factor sign-in is on.", "success")
    return render_template(
        "account/recovery_codes.html", codes=codes, then=url_for("account.two_factor")
    )


@bp.route("/two-factor/recovery-codes", methods=["POST"])
@login_required
def new_recovery_codes() -> ResponseReturnValue:
    if not FlaskForm().validate_on_submit():
        return redirect(url_for("account.two_factor"), code=303)
    try:
        codes = two_factor.regenerate_recovery_codes(current_user, ip=client_ip())
    except InvalidInput as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("account.two_factor"), code=303)
    db.session.commit()
    return render_template(
        "account/recovery_codes.html", codes=codes, then=url_for("account.two_factor")
    )


@bp.route("/two-factor/off", methods=["POST"])
@login_required
@limits.two_factor_limits(_too_many)
def two_factor_off() -> ResponseReturnValue:
    form = TwoFactorOffForm()
    if not form.validate_on_submit():
        return _page(off_form=form, status=400)
    try:
        two_factor.turn_off(
            current_user, password=form.password.data, code=form.code.data, ip=client_ip()
        )
    except InvalidInput as exc:
        db.session.commit()  # the audit row of a wrong code
        if exc.field in ("password", "code"):
            limits.code_failed()
            getattr(form, exc.field).errors = [exc.message]
        else:
            form.form_errors.append(exc.message)
        return _page(off_form=form, status=400)
    db.session.commit()
    flash("Two-factor sign-in is off. Signing in now needs only your password.", "success")
    return redirect(url_for("account.two_factor"), code=303)
