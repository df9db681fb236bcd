"""Routes for accounts: sign-up, sign-in, sign-out, email confirmation and password reset."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import (
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter import RequestLimit
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response as BaseResponse

from portal import intent, limits
from portal.auth import bp
from portal.auth.forms import ConfirmForm, EmailOnlyForm, ResetPasswordForm, SignInForm, SignUpForm
from portal.auth.invite_views import INVITE_TOKEN, invite_landing
from portal.extensions import db, limiter
from portal.forms import apply_domain_error
from portal.models import User
from portal.permissions import is_signed_in
from portal.services import accounts, audit, invites, sessions, sso, two_factor
from portal.services.errors import (
    AccountSuspended,
    AlreadyConfirmed,
    InvalidInput,
    InvalidToken,
    SignInFailed,
)
from portal.web import client_ip, safe_next, user_agent


def _config_limit(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


def _sign_in_failed(_response: Response) -> bool:
    return bool(g.get("sign_in_failed"))


def _account_key() -> str:
    return "account:" + (request.form.get("email") or "").strip().lower()[:254]


def _sign_in_rate_limited(limit: RequestLimit) -> Response:
    """Too many failures: the sign-in page again, with what was typed, and a 429."""
    form = SignInForm(
        formdata=None,
        email=request.form.get("email", ""),
        next=request.form.get("next"),
        intent=request.form.get("intent", ""),
        idea=request.form.get("idea", ""),
    )
    offered = intent.offered(form.intent.data, form.idea.data)
    response = current_app.make_response(
        (
            render_template(
                "auth/sign_in.html",
                form=form,
                rate_limited=limits.wait_phrase(limit),
                offered_intent=offered,
            ),
            429,
        )
    )
    return response


def _start_signed_in_session(user: User, *, remember: bool, method: str = "password") -> None:
    """Begin a fresh session: nothing the browser held before signing in carries over, but
    what the person came to do (a vote, a follow, a comment's draft: portal.intent). `method`
    says how it began ("password", "sso:<provider>", "identify", "email link")."""
    sessions.start_session(
        user, remember=remember, ip=client_ip(), user_agent=user_agent(), method=method
    )
    db.session.commit()
    kept = intent.kept_session()
    session.clear()
    session.update(kept)
    login_user(user, remember=remember, fresh=True)


def _offered_intent(form: SignInForm | SignUpForm) -> intent.Intent | None:
    """The vote, follow or comment the page offers, from ?intent=&idea= or the posted form."""
    if request.method == "GET":
        form.intent.data = request.args.get("intent", "")
        form.idea.data = request.args.get("idea", "")
    found = intent.offered(form.intent.data, form.idea.data)
    if found is None:
        form.intent.data = form.idea.data = ""
    return found


def _suspended_message(exc: AccountSuspended) -> str:
    reason = f" Reason: {exc.reason}" if exc.reason else ""
    return f"This account is suspended, so you cannot sign in.{reason}"


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(
    _config_limit("LIMIT_SIGN_IN_PER_IP"),
    methods=["POST"],
    deduct_when=_sign_in_failed,
    on_breach=_sign_in_rate_limited,
)
@limiter.limit(
    _config_limit("LIMIT_SIGN_IN_PER_ACCOUNT"),
    key_func=_account_key,
    methods=["POST"],
    deduct_when=_sign_in_failed,
    on_breach=_sign_in_rate_limited,
)
def sign_in() -> ResponseReturnValue:
    if is_signed_in(current_user):
        return redirect(safe_next(request.args.get("next")))
    form = SignInForm(next=request.args.get("next", ""), email=request.args.get("email", ""))
    offered = _offered_intent(form)
    pending = session.get("sso_pending_link")
    forced = sso.forced_provider_for(form.email.data or "") if request.method == "POST" else None
    if forced is not None:
        # The domain signs in only through its provider: no password is even checked.
        form.validate()
        form.form_errors.append(sso.forced_message(forced))
    elif form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data, ip=client_ip())
        except (SignInFailed, AccountSuspended) as exc:
            db.session.commit()  # the audit row of the failure
            g.sign_in_failed = True
            message = _suspended_message(exc) if isinstance(exc, AccountSuspended) else exc.message
            form.form_errors.append(message)
        else:
            remember, next_ = form.remember.data, form.next.data
            second = second_step(user, remember=remember, offered=offered, next_=next_)
            return second or signed_in(user, remember=remember, offered=offered, next_=next_)
    return render_template(
        "auth/sign_in.html",
        form=form,
        offered_intent=offered,
        forced_provider=forced,
        pending_link=sso.provider(str(pending.get("provider"))) if pending else None,
    )


def second_step(
    user: User,
    *,
    remember: bool,
    offered: intent.Intent | None,
    next_: str | None,
    method: str = "password",
) -> BaseResponse | None:
    """Before any session starts (a password typed, a reset link, a confirmation link): when
    the person must type a code or set two-factor up, keep only who they are, where they were
    going and what they came to do, and send them to that step; None when no step is needed."""
    if not _needs_second_step(user):
        return None
    db.session.commit()  # what came before: the audit row of the right password, a new one
    session[limits.TWO_FACTOR_PENDING] = {
        "user": user.id,
        "remember": bool(remember),
        "next": next_ or "",
        "intent": offered.action if offered else "",
        "idea": offered.idea.id if offered else "",
        "started": time.time(),
        "method": method,
    }
    return redirect(url_for("auth.two_factor"), code=303)


def _needs_second_step(user: User) -> bool:
    """After the right password: a code (or setting two-factor up) unless neither is needed,
    or this browser is a remembered device of theirs."""
    if not user.two_factor_on:
        return two_factor.is_required(user)
    cookie = request.cookies.get(current_app.config["TWO_FACTOR_DEVICE_COOKIE_NAME"])
    return not two_factor.is_remembered(user, cookie, ip=client_ip())


def signed_in(
    user: User,
    *,
    remember: bool,
    offered: intent.Intent | None,
    next_: str | None,
    method: str = "password",
) -> BaseResponse:
    """Start the session, welcome them, and do what they came to do or go where they were.

    A single sign-on identity waiting to be connected to this account (portal.services.sso)
    is connected now: the person has just proved they own it, second step included."""
    back_again = user.last_sign_in_at is not None  # before this sign-in sets it
    pending = session.get("sso_pending_link")
    linked = sso.complete_pending_link(user, pending, ip=client_ip()) if pending else None
    _start_signed_in_session(user, remember=remember, method=method)
    flash(f"Welcome{' back' if back_again else ''}, {user.display_name}.", "success")
    if linked:
        flash(f"Your account is now connected to {linked}: next time, use its button.", "success")
    if offered is not None:  # they pressed "Sign in and vote" on a page saying so
        return redirect(intent.carry_out(offered, user))
    return redirect(safe_next(next_))


@bp.route("/sign-out", methods=["POST"])
def sign_out() -> BaseResponse:
    if not is_signed_in(current_user):
        return redirect(url_for("main.home"))  # already signed out, e.g. in another tab
    audit.record("sign_out", actor=current_user, ip=client_ip(), target=current_user)
    sessions.end_session(current_user.session_key)
    db.session.commit()
    session.clear()
    logout_user()
    flash("You have signed out.", "success")
    return redirect(url_for("main.home"))


def _form_again(
    template: str, form_class: type[FlaskForm], what: str
) -> Callable[[RequestLimit], Response]:
    """On a limit: the same page with what was typed (never a password) and a 429."""

    def render(limit: RequestLimit) -> Response:
        form = form_class()
        form.form_errors.append(limits.too_many_message(what, limit))
        return current_app.make_response((render_template(template, form=form), 429))

    return render


@bp.route("/sign-up", methods=["GET", "POST"])
@limiter.limit(
    _config_limit("LIMIT_SIGN_UP_PER_IP"),
    methods=["POST"],
    deduct_when=lambda response: response.status_code == 303,
    on_breach=_form_again("auth/sign_up.html", SignUpForm, "created accounts from here"),
)
def sign_up() -> ResponseReturnValue:
    if is_signed_in(current_user):
        return redirect(url_for("main.home"))
    form = SignUpForm()
    offered = _offered_intent(form)
    if form.validate_on_submit():
        try:
            carried = session.get(INVITE_TOKEN)
            sso.check_password_allowed(form.email.data)
            invites.check_sign_up_allowed(form.email.data, carried_token=carried)
            user = accounts.register(
                email=form.email.data,
                display_name=form.display_name.data,
                password=form.password.data,
                accepted_guidelines=form.accept_guidelines.data,
                ip=client_ip(),
                then=intent.landing(offered) if offered else None,
            )
            joined = invites.join_on_sign_up(user, carried, ip=client_ip()) if user else None
            db.session.commit()
        except InvalidInput as exc:
            db.session.rollback()
            apply_domain_error(form, exc)
        except IntegrityError:
            # Someone signed up with the same address a moment ago: answer as for a taken one.
            db.session.rollback()
            return _after_sign_up(form.email.data, offered)
        else:
            if user is not None and joined is not None:
                # Invited at this very address: in at once, on the board they were invited to
                # (through setting two-factor up first, where it is required for everyone).
                landing = invite_landing(joined)
                second = second_step(user, remember=False, offered=None, next_=landing)
                if second is not None:
                    return second
                _start_signed_in_session(user, remember=False)
                place = f"“{joined.board.name}”" if joined.board else "the portal"
                flash(f"Welcome to {place}, {user.display_name}.", "success")
                return redirect(invite_landing(joined), code=303)
            return _after_sign_up(form.email.data, offered)
    return render_template("auth/sign_up.html", form=form, offered_intent=offered)


def _after_sign_up(email: str, offered: intent.Intent | None) -> BaseResponse:
    session["pending_email"] = email.strip()
    if offered is not None:  # carried out when the emailed link is opened in this browser
        intent.remember(offered)
    return redirect(url_for("auth.check_email"), code=303)


@bp.route("/sign-up/check-email")
def check_email() -> str:
    return render_template(
        "auth/check_email.html",
        email=session.get("pending_email"),
        offered_intent=intent.remembered(keep=True),
    )


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def verify_email(token: str) -> ResponseReturnValue:
    form = ConfirmForm()
    try:
        accounts.user_for_verify_token(token)  # a dead link says so before any button
        if not form.validate_on_submit():
            return render_template("auth/confirm_email.html", form=form, error=None)
        user = accounts.verify_email(token, ip=client_ip())
    except AlreadyConfirmed as exc:
        # A used link: a page that says so and offers sign-in; it signs nobody in itself.
        db.session.rollback()
        return render_template("auth/confirm_email.html", form=None, done=exc.message)
    except InvalidToken as exc:
        db.session.rollback()
        return render_template("auth/confirm_email.html", form=None, error=exc.message), 400
    except AccountSuspended as exc:
        db.session.rollback()
        flash(_suspended_message(exc), "error")
        return redirect(url_for("auth.sign_in"))
    second = second_step(
        user, remember=False, offered=None, next_=request.args.get("next"), method="email link"
    )
    if second is not None:
        flash("Your email address is confirmed.", "success")
        return second
    _start_signed_in_session(user, remember=False, method="email link")
    flash(f"Your email address is confirmed. Welcome, {user.display_name}!", "success")
    waiting = intent.remembered()  # signed up in this browser to vote, follow or comment
    if waiting is not None:
        return redirect(intent.carry_out(waiting, user))
    # Opened in another browser: the link still names the idea the person signed up from.
    return redirect(safe_next(request.args.get("next")))


@bp.route("/confirm/resend", methods=["GET", "POST"])
@limiter.limit(
    _config_limit("LIMIT_EMAIL_PER_IP"),
    methods=["POST"],
    on_breach=_form_again("auth/resend_confirmation.html", EmailOnlyForm, "asked for emails"),
)
def resend_confirmation() -> ResponseReturnValue:
    form = EmailOnlyForm(email=request.args.get("email", ""))
    if form.validate_on_submit():
        accounts.resend_verification(form.email.data)
        db.session.commit()
        flash(
            "If an unconfirmed account uses that address, a new confirmation link is on its way.",
            "success",
        )
        return redirect(url_for("auth.sign_in"), code=303)
    return render_template("auth/resend_confirmation.html", form=form)


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(
    _config_limit("LIMIT_EMAIL_PER_IP"),
    methods=["POST"],
    on_breach=_form_again("auth/forgot_password.html", EmailOnlyForm, "asked for emails"),
)
def forgot_password() -> ResponseReturnValue:
    form = EmailOnlyForm(email=request.args.get("email", ""))
    forced = sso.forced_provider_for(form.email.data or "") if request.method == "POST" else None
    if forced is not None:
        form.validate()
        form.form_errors.append(sso.forced_message(forced))
    elif form.validate_on_submit():
        accounts.request_password_reset(form.email.data, ip=client_ip())
        db.session.commit()
        minutes = int(current_app.config["PASSWORD_RESET_MAX_AGE"].total_seconds() // 60)
        flash(
            "If an account uses that address, we have emailed it a link to choose a new "
            f"password. The link works once, for {minutes} minutes.",
            "success",
        )
        return redirect(url_for("auth.sign_in"), code=303)
    return render_template("auth/forgot_password.html", form=form, forced_provider=forced)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> ResponseReturnValue:
    try:
        user = accounts.user_for_reset_token(token)
        sso.check_password_allowed(user.email)  # a link sent before the domain was forced
    except (InvalidToken, AccountSuspended, InvalidInput) as exc:
        return render_template("auth/reset_password.html", form=None, error=exc.message), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data, ip=client_ip())
        except InvalidInput as exc:
            db.session.rollback()
            apply_domain_error(form, exc)
        else:
            flash("Your password is changed and every other session is signed out.", "success")
            profile = url_for("account.profile")
            second = second_step(user, remember=False, offered=None, next_=profile)
            if second is not None:
                return second
            _start_signed_in_session(user, remember=False)
            return redirect(profile)
    return render_template("auth/reset_password.html", form=form, error=None, user=user)
