"""A person's single sign-on connections: connect a provider, disconnect one."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from portal.account import bp
from portal.extensions import db
from portal.models import ExternalIdentity
from portal.security import allow_form_action
from portal.services import accounts, sso
from portal.services.errors import InvalidInput
from portal.web import client_ip, login_required


class ActionForm(FlaskForm):
    """A button and a CSRF token."""


@bp.route("/sign-in-methods")
@login_required
def sign_in_methods() -> ResponseReturnValue:
    linked = sso.identities_of(current_user)
    names = {p.slug: p.name for p in sso.all_providers()}
    available = [p for p in sso.providers() if p.slug not in {i.provider for i in linked}]
    allow_form_action([origin for p in available for origin in sso.form_origins(p)])
    return render_template(
        "account/sign_in_methods.html",
        linked=linked,
        names=names,
        available=available,
        has_password=accounts.has_password(current_user),
        action_form=ActionForm(),
    )


@bp.route("/sign-in-methods/<id:identity_id>/disconnect", methods=["POST"])
@login_required
def disconnect_provider(identity_id: int) -> BaseResponse:
    row = db.session.get(ExternalIdentity, identity_id)
    if row is None or row.user_id != current_user.id:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        sso.disconnect(current_user, row, ip=client_ip())
    except InvalidInput as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash("Disconnected. You can connect it again at any time.", "success")
    return redirect(url_for("account.sign_in_methods"), code=303)
