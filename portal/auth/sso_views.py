"""Signing in with single sign-on (OpenID Connect) and with identify links (docs/sso.md)."""

from __future__ import annotations

import time
from typing import Any

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import HiddenField

from portal import intent
from portal.auth import bp
from portal.auth.invite_views import INVITE_TOKEN
from portal.auth.views import _start_signed_in_session, _suspended_message
from portal.extensions import csrf, db, limiter
from portal.models import User
from portal.permissions import is_signed_in
from portal.security import allow_form_action
from portal.services import audit, identify, sso
from portal.services.errors import AccountSuspended, DomainError
from portal.web import client_ip, safe_next

RETURN = "sso_return"  # where to go back to, and what the person came to do
PENDING = "sso_pending_link"  # an identity waiting for its account's password
PENDING_SECONDS = 900


class SsoStartForm(FlaskForm):
    next = HiddenField()
    intent = HiddenField()
    idea = HiddenField()


@bp.app_context_processor
def sso_for_templates() -> dict[str, object]:
    """The sign-in and sign-up pages offer a button per provider (templates/auth/_sso.html)."""
    return {"sso_providers": providers_for_page, "sso_form": SsoStartForm}


def providers_for_page() -> list[sso.Provider]:
    """The providers whose buttons this page shows; its form-action policy lets them through."""
    found = sso.providers()
    allow_form_action([origin for p in found for origin in sso.form_origins(p)])
    return found


def _limit() -> str:
    return str(current_app.config["LIMIT_SSO_PER_IP"])


def _redirect_uri(slug: str) -> str:
    return url_for("auth.sso_callback", slug=slug, _external=True)


def begin(found: sso.Provider, carried: dict[str, Any], *, back: str) -> BaseResponse:
    """Off to the provider, remembering what to do on the way back; `back` if it is down."""
    try:
        target = sso.authorize_url(found, _redirect_uri(found.slug))
    except sso.SsoRefused as exc:
        flash(exc.message, "error")
        return redirect(back, code=303)
    session[RETURN] = carried
    return redirect(target, code=303)


@bp.route("/sign-in/sso/<slug>", methods=["POST"])
@limiter.limit(_limit)
def sso_start(slug: str) -> ResponseReturnValue:
    found = sso.provider(slug)
    if found is None:
        abort(404)
    form = SsoStartForm()
    if not form.validate_on_submit():
        abort(400)
    if is_signed_in(current_user):
        return redirect(safe_next(form.next.data))
    return begin(
        found,
        {
            "next": form.next.data or "",
            "intent": form.intent.data or "",
            "idea": form.idea.data or "",
        },
        back=url_for("auth.sign_in"),
    )


@bp.route("/account/sign-in-methods/<slug>/connect", methods=["POST"])
@limiter.limit(_limit)
def sso_connect(slug: str) -> ResponseReturnValue:
    """From the account page: off to the provider, to link it to the signed-in account."""
    found = sso.provider(slug)
    if found is None:
        abort(404)
    if not is_signed_in(current_user):
        return redirect(url_for("auth.sign_in"))
    if not SsoStartForm().validate_on_submit():
        abort(400)
    return begin(found, {"connect": current_user.id}, back=url_for("account.sign_in_methods"))


def _failed(found: sso.Provider, exc: DomainError) -> BaseResponse:
    """Nobody signed in: say why, log and audit it (never a token)."""
    db.session.rollback()
    current_app.logger.warning("sso sign-in failed for %s: %s", found.slug, exc.field or "refused")
    audit.record(
        "sso.sign_in_failed", actor=None, ip=client_ip(), provider=found.slug, reason=exc.field
    )
    db.session.commit()
    message = _suspended_message(exc) if isinstance(exc, AccountSuspended) else exc.message
    flash(message, "error")
    return redirect(url_for("auth.sign_in"), code=303)


@bp.route("/sign-in/sso/<slug>/callback")
@limiter.limit(_limit)
def sso_callback(slug: str) -> ResponseReturnValue:
    found = sso.provider(slug)
    if found is None:
        abort(404)
    carried = session.pop(RETURN, None) or {}
    try:
        claims = sso.finish(found)
    except sso.SsoRefused as exc:
        return _failed(found, exc)
    if carried.get("connect"):
        return _connected(found, claims, carried)
    if is_signed_in(current_user):
        return redirect(url_for("main.home"))
    try:
        outcome = sso.sign_in(
            found, claims, ip=client_ip(), carried_invite=session.get(INVITE_TOKEN)
        )
    except (sso.SsoRefused, AccountSuspended) as exc:
        return _failed(found, exc)
    if isinstance(outcome, sso.PendingLink):
        db.session.commit()
        session[PENDING] = {
            "provider": outcome.provider,
            "subject": outcome.subject,
            "email": outcome.email,
            "until": time.time() + PENDING_SECONDS,
        }
        flash(
            f"An account with the address {outcome.email} already exists here. Sign in with its "
            f"password once to connect it to {found.name}; after that, the {found.name} button "
            "is enough.",
            "info",
        )
        args = {k: carried[k] for k in ("next", "intent", "idea") if carried.get(k)}
        return redirect(url_for("auth.sign_in", email=outcome.email, **args), code=303)
    return _signed_in(outcome, f"sso:{found.slug}", carried)


def _signed_in(user: User, method: str, carried: dict[str, Any]) -> BaseResponse:
    _start_signed_in_session(user, remember=False, method=method)
    flash(f"Welcome, {user.display_name}.", "success")
    offered = intent.offered(carried.get("intent"), carried.get("idea"))
    if offered is not None:  # they pressed "Sign in with …" on a page offering to vote
        return redirect(intent.carry_out(offered, user))
    return redirect(safe_next(carried.get("next")))


def _connected(
    found: sso.Provider, claims: dict[str, Any], carried: dict[str, Any]
) -> BaseResponse:
    if not is_signed_in(current_user) or carried.get("connect") != current_user.id:
        flash("Sign in first, then connect the provider from your account page.", "error")
        return redirect(url_for("auth.sign_in"), code=303)
    try:
        sso.connect(found, current_user, claims, ip=client_ip())
    except sso.SsoRefused as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(f"Your account is connected to {found.name}: you can sign in with it now.", "success")
    return redirect(url_for("account.sign_in_methods"), code=303)


@bp.route("/identify", methods=["GET", "POST"])
@limiter.limit(_limit)
@csrf.exempt  # the signed, single-use token is the proof; a product may POST it from its site
def identify_sign_in() -> ResponseReturnValue:
    """A customer's product sends its user here with a signed token (docs/sso.md).

    A GET only checks the token and shows a page that POSTs it on (at once with JavaScript, by
    its button without): a GET changes nothing, so a link checker or a browser's prefetch
    cannot spend the single-use token or start a session."""
    values = request.form if request.method == "POST" else request.args
    token = values.get("token", "")
    next_path = values.get("next")
    try:
        if request.method == "GET":
            claims = identify.peek_token(token)
            page = make_response(
                render_template(
                    "auth/identify_continue.html",
                    token=token,
                    next_path=next_path or "",
                    name=str(claims.get("name") or claims.get("email") or ""),
                )
            )
            page.headers["Cache-Control"] = "no-store"  # it holds a sign-in token
            return page
        claims = identify.check_token(token)
        user = identify.sign_in(claims, ip=client_ip())
    except (identify.IdentifyRefused, AccountSuspended, DomainError) as exc:
        # Logged, not audited: anyone can send nonsense. A good token naming a team account
        # is audited (identify.refused_team).
        db.session.rollback()
        current_app.logger.warning("identify refused: %s", exc.field or "refused")
        if isinstance(exc, identify.IdentifyRefused) and exc.team_account is not None:
            audit.record(
                "identify.refused_team", actor=None, ip=client_ip(), target=exc.team_account
            )
            db.session.commit()
        message = _suspended_message(exc) if isinstance(exc, AccountSuspended) else exc.message
        return render_template("auth/identify_failed.html", message=message), 400
    db.session.commit()
    return _signed_in(user, "identify", {"next": next_path or ""})
