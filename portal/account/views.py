"""The account page and the changes a person makes to their own account."""

from __future__ import annotations

from flask import render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.account import bp
from portal.account.forms import ChangePasswordForm, DisplayNameForm
from portal.forms import handle_submission
from portal.services import accounts
from portal.web import client_ip, login_required


def _render(
    name_form: DisplayNameForm | None = None,
    password_form: ChangePasswordForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return (
        render_template(
            "account/profile.html",
            name_form=name_form
            if name_form is not None
            else DisplayNameForm(display_name=current_user.display_name),
            password_form=password_form
            if password_form is not None
            else ChangePasswordForm(formdata=None),
        ),
        status,
    )


@bp.route("")
@login_required
def profile() -> tuple[str, int]:
    return _render()


@bp.route("/display-name", methods=["POST"])
@login_required
def change_display_name() -> ResponseReturnValue:
    form = DisplayNameForm()
    done = handle_submission(
        form,
        lambda: accounts.change_display_name(current_user, form.display_name.data),
        success="Your display name is changed.",
        redirect_to=url_for("account.profile"),
    )
    return done or _render(name_form=form, status=400)


@bp.route("/password", methods=["POST"])
@login_required
def change_password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    done = handle_submission(
        form,
        lambda: accounts.change_password(
            current_user,
            current_password=form.current_password.data,
            new_password=form.new_password.data,
            ip=client_ip(),
        ),
        success="Your password is changed. Every other session is now signed out.",
        redirect_to=url_for("account.profile"),
    )
    return done or _render(password_form=form, status=400)
