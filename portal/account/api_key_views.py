"""The person's API keys: make one (its token shown once, on the page that answers the form),
see them all, revoke one."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.account import bp
from portal.account.forms import ApiKeyForm
from portal.extensions import db
from portal.forms import apply_domain_error
from portal.models import ApiKey
from portal.models.types import utcnow
from portal.services import api_keys
from portal.services.errors import DomainError
from portal.web import client_ip, login_required


def _page(
    form: ApiKeyForm, *, status: int = 200, created: tuple[ApiKey, str] | None = None
) -> ResponseReturnValue:
    response = make_response(
        render_template(
            "account/api_keys.html",
            form=form,
            keys=api_keys.keys_of(current_user),
            allowed=api_keys.allowed_scopes(current_user),
            refusal=api_keys.refusal(current_user),
            descriptions=api_keys.SCOPE_DESCRIPTIONS,
            created=created,
            now=utcnow(),
            action_form=FlaskForm(),
        ),
        status,
    )
    # The page may hold a token: no cache, no back-button copy keeps it.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/api-keys", methods=["GET", "POST"], endpoint="api_keys")
@login_required
def api_keys_page() -> ResponseReturnValue:
    form = ApiKeyForm(data=None if request.method == "POST" else {"scopes": ["read"]})
    if not form.validate_on_submit():
        return _page(form, status=400 if request.method == "POST" else 200)
    day = form.expires_at.data
    try:
        created = api_keys.create_key(
            current_user,
            name=form.name.data or "",
            scopes=form.scopes.data or [],
            expires_at=api_keys.end_of(day) if day else None,
            actor=current_user,
            ip=client_ip(),
        )
    except DomainError as exc:
        db.session.rollback()
        apply_domain_error(form, exc)
        return _page(form, status=400)
    db.session.commit()
    # Shown in this answer and nowhere else: never in a redirect's address or the session
    # cookie (a flash), which would keep it after the person has left the page.
    return _page(ApiKeyForm(formdata=None, data={"scopes": ["read"]}), created=created)


# The argument is a row's number, not the key: named so that the request log's check for
# secret-looking arguments (tests/test_observability.py) has nothing to redact.
@bp.route("/api-keys/<id:credential_id>/revoke", methods=["POST"])
@login_required
def revoke_api_key(credential_id: int) -> ResponseReturnValue:
    key = api_keys.key_of(current_user, credential_id)
    if key is None:
        abort(404)  # someone else's key is as if it did not exist
    try:
        api_keys.revoke_key(key, actor=current_user, ip=client_ip())
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "info")
    else:
        db.session.commit()
        flash(f"The key “{key.name}” is revoked: it works nowhere from now on.", "success")
    return redirect(url_for("account.api_keys"), code=303)
