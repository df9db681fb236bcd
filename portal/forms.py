"""Form pieces shared by several areas."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import current_app, flash, redirect, session
from flask_wtf import FlaskForm
from itsdangerous import BadData, URLSafeSerializer
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, Field, HiddenField, PasswordField, StringField
from wtforms.validators import InputRequired, Length, StopValidation, ValidationError

from portal import limits
from portal.extensions import db
from portal.services import two_factor
from portal.services.errors import DomainError, InvalidFields
from portal.services.passwords import password_problem
from portal.services.validation import text_problem

T = TypeVar("T")


def new_password_field(label: str = "Password") -> PasswordField:
    # No length limit beyond a generous cap; any characters, spaces and emoji included.
    return PasswordField(
        label,
        validators=[InputRequired(message="Choose a password."), Length(max=256)],
        render_kw={"autocomplete": "new-password", "minlength": 8, "maxlength": 256},
    )


def check_new_password(
    form: FlaskForm, field: Field, *, email: str = "", display_name: str = ""
) -> None:
    problem = password_problem(field.data or "", email=email, display_name=display_name)
    if problem:
        raise ValidationError(problem)


def apply_domain_error(form: FlaskForm, error: DomainError) -> None:
    """Show a service's refusal next to the field it concerns, or at the top of the form;
    every field's, when it names several (InvalidFields)."""
    problems = (
        error.problems if isinstance(error, InvalidFields) else {error.field or "": error.message}
    )
    for name, message in problems.items():
        field = getattr(form, name, None) if name else None
        if field is not None:
            if message not in field.errors:  # the form's own check may have said it already
                field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)


class Rule:
    """A field checked by the services' own rule (a function giving what is wrong, or None),
    so a form reports every field's problem in one round, the same words as the service.

    `limit` is a length limit the person should see: the field macro shows it with a live
    count. It is never a maxlength attribute, which cuts pasted text without a word.
    """

    def __init__(self, problem: Callable[[str], str | None], *, limit: int | None = None) -> None:
        self.problem = problem
        self.field_flags = {"limit": limit} if limit else {}

    def __call__(self, form: FlaskForm, field: Field) -> None:
        message = self.problem(field.data or "")
        if message:
            raise StopValidation(message)


def text_limit(limit: int, *, missing: str | None = None) -> Rule:
    """Long text of at most `limit` characters (and required if `missing` says how to ask)."""
    return Rule(lambda text: text_problem(text, limit=limit, missing=missing), limit=limit)


def handle_submission(
    form: FlaskForm,
    action: Callable[[], T],
    *,
    success: str,
    redirect_to: str | Callable[[T], str],
) -> BaseResponse | None:
    """The usual life of a form post: validate, act, commit, flash, redirect.

    Returns the redirect when the action succeeded, or None when the page should be shown
    again with the form's errors (from validation, or the service's DomainError) and
    everything the person typed. `redirect_to` is a URL or a function of the action's result.
    """
    if not form.validate_on_submit():
        return None
    try:
        result = action()
    except DomainError as exc:
        db.session.rollback()
        apply_domain_error(form, exc)
        return None
    db.session.commit()
    flash(success, "success")
    return redirect(redirect_to(result) if callable(redirect_to) else redirect_to, code=303)


# --- Telling people from bots -------------------------------------------------------------

_STARTED_SALT = "form-started"

OUT_OF_DATE = "This form is out of date. Check what you entered and send it again."
SENT_ALREADY = (
    "This form was sent already. If you meant to send it again, check what you entered and "
    "send it once more."
)


def _started_serializer() -> URLSafeSerializer:
    secret_key: str = current_app.config["SECRET_KEY"]  # create_app refuses to start without one
    return URLSafeSerializer(secret_key, salt=_STARTED_SALT)


def _first_shown(started: str | None) -> float | None:
    """When the form a started token belongs to was first shown, if the token is ours and
    still within FORM_MAX_SECONDS of that moment; None otherwise."""
    try:
        note = _started_serializer().loads(started or "")
    except BadData:  # tampered, or signed with another key
        return None
    # [nonce, first shown]; anything else (an integer, a bare nonce) predates single-use
    # tokens or first-shown times, and is out of date.
    if not (
        isinstance(note, list)
        and len(note) == 2
        and isinstance(note[0], str)
        and isinstance(note[1], int | float)
        and not isinstance(note[1], bool)
    ):
        return None
    first_shown = float(note[1])
    if not 0 <= time.time() - first_shown <= current_app.config["FORM_MAX_SECONDS"]:
        return None
    return first_shown


def form_started_token(previous: str | None = None) -> str:
    """A signed note of when a form was first shown, put in the form as it is rendered.

    A form shown again (a refused submission, the "Is it one of these?" step) passes the
    token it was sent with: the new token keeps that first time, so the fill time counts from
    when the person first saw the form, across every redraw. Each token names itself with a
    random nonce, so it is good for one submission: every showing carries a new one.
    """
    first_shown = _first_shown(previous) if previous else None
    if first_shown is None:
        first_shown = float(int(time.time()))
    return _started_serializer().dumps([secrets.token_urlsafe(16), first_shown])


def bot_problem(honeypot: str | None, started: str | None, *, fill_time: bool = True) -> str | None:
    """Why a submission looks automated, or None.

    A honeypot field hidden from people (bots fill in every field), and the form's started
    token: sent no sooner than FORM_MIN_SECONDS after the form was first shown (bots send at
    once; skipped when fill_time is False), no later than FORM_MAX_SECONDS after (a token kept
    by a bot runs out), and only once (one token cannot serve a run of submissions). Once is
    counted in the rate limits' storage, so every worker and server knows.
    FORM_MIN_SECONDS = 0 switches the token off altogether.
    """
    if honeypot:
        return (
            "We could not accept this form, because a field meant to stay empty was filled in. "
            "If you are a person, leave “Leave this empty” blank and send it again."
        )
    config = current_app.config
    minimum, maximum = config["FORM_MIN_SECONDS"], config["FORM_MAX_SECONDS"]
    if not minimum:
        return None
    first_shown = _first_shown(started)
    if first_shown is None:  # missing, tampered, foreign, old-style or older than the maximum
        return OUT_OF_DATE
    if fill_time and time.time() - first_shown < minimum:
        return (
            "That was quicker than a person can fill in this form. Check what you entered "
            "and send it again."
        )
    nonce = _started_serializer().loads(started or "")[0]
    # Used up only by a submission that passed the checks above; past FORM_MAX_SECONDS the
    # token is refused anyway, so it need not be remembered longer.
    if not limits.first_use(f"form-started:{nonce}", remember_seconds=maximum):
        return SENT_ALREADY
    return None


class HumanCheck(FlaskForm):
    """A form base with a honeypot and a minimum fill time (see bot_problem).

    A form people complete with a password manager or the browser's autofill (sign-up) sets
    fill_time = False: a person may honestly fill it in a second, so speed alone refuses
    nobody there; the honeypot, the single-use token, the per-address limit and the emailed
    confirmation link still stand between it and a bot.
    """

    fill_time = True

    website = StringField("Leave this empty", render_kw={"autocomplete": "off", "tabindex": "-1"})
    started = HiddenField()

    def validate(self, extra_validators: dict[str, Iterable[Any]] | None = None) -> bool:
        valid: bool = super().validate(extra_validators)
        problem = bot_problem(self.website.data, self.started.data, fill_time=self.fill_time)
        if problem:
            self.form_errors.append(problem)
            return False
        return valid


def csrf_field(form: FlaskForm) -> Markup:
    """A form's CSRF token input without an id, as several forms share a page (a template
    global); nothing when CSRF is off, as in tests."""
    field = getattr(form, "csrf_token", None)
    return field(id=False) if field is not None else Markup("")


# --- Two-factor codes (sign-in and the account page) ---------------------------------------


def code_field(label: str = "Code from your app") -> StringField:
    return StringField(
        label,
        validators=[InputRequired(message="Type the code."), Length(max=19)],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "autocapitalize": "none",
            "spellcheck": "false",
            "maxlength": 19,
        },
    )


class TwoFactorSetupForm(FlaskForm):
    code = code_field()


class TwoFactorSignInForm(FlaskForm):
    code = code_field("Code")
    remember_device = BooleanField("Don't ask for a code on this device for 30 days")


class TwoFactorOffForm(FlaskForm):
    password = PasswordField(
        "Your password",
        validators=[InputRequired(message="Enter your password."), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    code = code_field()


_SETUP_KEY = "two_factor_setup"  # the secret being set up, in the signed session


def setup_secret(user_id: int) -> str:
    """The secret the setup page shows this person: the one already shown (so a wrong code or
    a reload keeps the same QR code), else a new one. Kept in the session, not the database,
    until a code confirms it; signing in clears it."""
    kept = session.get(_SETUP_KEY)
    if (
        isinstance(kept, dict)
        and kept.get("user") == user_id
        and isinstance(kept.get("secret"), str)
    ):
        return str(kept["secret"])
    secret = two_factor.new_secret()
    session[_SETUP_KEY] = {"user": user_id, "secret": secret}
    return secret


def forget_setup_secret() -> None:
    session.pop(_SETUP_KEY, None)


def setup_context(user: Any) -> dict[str, str]:
    """What the setup page shows: the secret grouped for typing, and its QR code."""
    secret = setup_secret(user.id)
    return {
        "secret": two_factor.grouped(secret),
        "qr": two_factor.qr_svg(two_factor.provisioning_uri(user, secret)),
    }
