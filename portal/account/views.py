"""The account page and the changes a person makes to their own account."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms.widgets import EmailInput

from portal.account import bp
from portal.account.forms import ChangePasswordForm, DisplayNameForm, EraseAccountForm
from portal.extensions import db
from portal.forms import handle_submission
from portal.models import UserSession
from portal.services import accounts, erase, sessions, sso
from portal.services import my_data as data_exports
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
            sessions=sessions.active_sessions(current_user),
            browser_summary=sessions.browser_summary,
            session_began=sso.session_began,
            end_url=lambda s: url_for("account.end_session", session_id=s.id),
            is_current=_is_current,
            action_form=FlaskForm(),
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


def _is_current(row: UserSession) -> bool:
    return sessions.is_key_of(row, current_user.session_key)


@bp.route("/sessions/<id:session_id>/end", methods=["POST"])
@login_required
def end_session(session_id: int) -> BaseResponse:
    """End one of one's other sessions (signing out here is the sign-out button)."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != current_user.id or _is_current(row):
        abort(404)
    sessions.end_one_for(current_user, session_id, actor=current_user, ip=client_ip())
    db.session.commit()
    flash("That session is ended: that browser is signed out.", "success")
    return redirect(url_for("account.profile"), code=303)


@bp.route("/sessions/end-others", methods=["POST"])
@login_required
def end_other_sessions() -> BaseResponse:
    if not FlaskForm().validate_on_submit():
        abort(400)
    sessions.end_all_for(
        current_user, actor=current_user, ip=client_ip(), except_key=current_user.session_key
    )
    db.session.commit()
    flash("Every other session is ended. You are still signed in here.", "success")
    return redirect(url_for("account.profile"), code=303)


def _erase_form() -> EraseAccountForm:
    form = EraseAccountForm()
    if not accounts.has_password(current_user):
        form.confirmation.label.text = "Your email address"
        form.confirmation.widget = EmailInput()
        form.confirmation.render_kw = {"autocomplete": "email"}
    return form


@bp.route("/delete", methods=["GET", "POST"])
@login_required
def delete_account() -> ResponseReturnValue:
    """Erase one's own account (portal.services.erase), confirmed with the password."""
    form = _erase_form()
    done = handle_submission(
        form,
        lambda: erase.erase_own_account(
            current_user,
            confirmation=form.confirmation.data,
            remove_posts=form.remove_posts.data,
            ip=client_ip(),
        ),
        success="Your account is erased. Thank you for your ideas.",
        redirect_to=url_for("main.home"),
    )
    if done is not None:
        logout_user()
        return done
    status = 400 if form.is_submitted() else 200
    return render_template(
        "account/delete.html", form=form, uses_password=accounts.has_password(current_user)
    ), status


@bp.route("/my-data", methods=["GET", "POST"])
@login_required
def my_data() -> ResponseReturnValue:
    """Ask for a copy of one's data, see how the requests stand, download the ready one."""
    form = FlaskForm()
    if form.is_submitted():
        if not form.validate():
            abort(400)
        try:
            data_exports.request_export(current_user, ip=client_ip())
        except data_exports.ExportRefused as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash(
                "We are preparing your copy. We will email you when it is ready to download.",
                "success",
            )
        return redirect(url_for("account.my_data"), code=303)
    exports = data_exports.exports_of(current_user)
    return render_template(
        "account/my_data.html",
        form=form,
        exports=exports,
        status_of=data_exports.status_of,
        days=data_exports.EXPORT_DAYS,
        per_day=data_exports.PER_DAY,
    )


@bp.route("/my-data/<id:export_id>/download")
@login_required
def download_my_data(export_id: int) -> Response:
    """The archive, for the person who asked only; anyone else, or too late, gets 404."""
    archive = data_exports.download_for(current_user, export_id)
    if archive is None:
        abort(404)
    response = Response(archive, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="my-data-{export_id}.zip"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
