"""Single sign-on for admins: OpenID Connect providers, and identify links (docs/sso.md)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import select

from portal.admin import bp
from portal.admin.forms import ActionForm
from portal.admin.sso_forms import IdentifyForm, ProviderForm
from portal.extensions import db
from portal.forms import handle_submission
from portal.models import SsoProvider
from portal.permissions import is_admin
from portal.services import identify, sso
from portal.web import client_ip, role_required


def _list_page(
    identify_form: IdentifyForm | None = None, *, secret: str | None = None, status: int = 200
) -> tuple[str, int]:
    current = identify.settings()
    if identify_form is None:
        identify_form = IdentifyForm(
            formdata=None,
            data={
                "enabled": current.enabled,
                "algorithm": current.algorithm,
                "public_key": current.public_key,
            },
        )
    return render_template(
        "admin/sso/list.html",
        environment=sso.environment_providers(),
        rows=db.session.scalars(select(SsoProvider).order_by(SsoProvider.name)).all(),
        identify_form=identify_form,
        identify_settings=current,
        action_form=ActionForm(),
        secret=secret,
    ), status


@bp.route("/sso")
@role_required(is_admin)
def sso_providers() -> ResponseReturnValue:
    return _list_page()


def _provider_page(form: ProviderForm, row: SsoProvider | None) -> ResponseReturnValue:
    """Add (row None) or edit a provider: save and back to the list, or the form again."""

    def save() -> None:
        if row is None:
            sso.create_provider(form.fields(), actor=current_user, ip=client_ip())
        else:
            sso.update_provider(row, form.fields(), actor=current_user, ip=client_ip())

    done = handle_submission(
        form,
        save,
        success="Provider saved." if row else "Provider added. Its button is on the sign-in page.",
        redirect_to=url_for("admin.sso_providers"),
    )
    if done:
        return done
    status = 400 if request.method == "POST" else 200
    return render_template("admin/sso/form.html", form=form, row=row), status


@bp.route("/sso/new", methods=["GET", "POST"])
@role_required(is_admin)
def new_sso_provider() -> ResponseReturnValue:
    return _provider_page(ProviderForm(), None)


@bp.route("/sso/<id:provider_id>", methods=["GET", "POST"])
@role_required(is_admin)
def edit_sso_provider(provider_id: int) -> ResponseReturnValue:
    row = db.get_or_404(SsoProvider, provider_id)
    form = ProviderForm(obj=row) if request.method == "GET" else ProviderForm()
    if request.method == "GET":
        form.client_secret.data = ""  # never shown again
    return _provider_page(form, row)


@bp.route("/sso/<id:provider_id>/delete", methods=["GET", "POST"])
@role_required(is_admin)
def delete_sso_provider(provider_id: int) -> ResponseReturnValue:
    """GET: what deleting would remove, with the button; POST (that button) deletes."""
    row = db.get_or_404(SsoProvider, provider_id)
    if request.method == "GET":
        return render_template(
            "admin/sso/delete.html",
            row=row,
            linked=sso.linked_count(row.slug),
            action_form=ActionForm(),
        )
    if not ActionForm().validate_on_submit():
        abort(400)
    sso.delete_provider(row, actor=current_user, ip=client_ip())
    db.session.commit()
    flash("Provider deleted, with the connections people had made to it.", "success")
    return redirect(url_for("admin.sso_providers"), code=303)


@bp.route("/sso/identify", methods=["POST"])
@role_required(is_admin)
def identify_settings() -> ResponseReturnValue:
    form = IdentifyForm()
    done = handle_submission(
        form,
        lambda: identify.save_settings(
            enabled=bool(form.enabled.data),
            algorithm=form.algorithm.data or "",
            public_key=form.public_key.data or "",
            actor=current_user,
            ip=client_ip(),
        ),
        success="Identify settings saved.",
        redirect_to=url_for("admin.sso_providers"),
    )
    return done or _list_page(form, status=400)


@bp.route("/sso/identify/secret", methods=["POST"])
@role_required(is_admin)
def identify_secret() -> ResponseReturnValue:
    """A new shared secret, shown once on a page answered to this POST (never kept by caches)."""
    if not ActionForm().validate_on_submit():
        abort(400)
    secret = identify.rotate_secret(actor=current_user, ip=client_ip())
    db.session.commit()
    body, status = _list_page(secret=secret)
    return body, status, {"Cache-Control": "no-store"}
