"""Email settings: per-kind preferences, one-click unsubscribe, answering from an email."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import SelectField, TextAreaField
from wtforms.validators import Length, Optional

from portal.account import bp
from portal.extensions import csrf, db
from portal.mail.preferences import ALL, DELIVERIES, KINDS, preferences
from portal.models import User
from portal.services import email_settings, outcomes
from portal.services.errors import DomainError, InvalidToken
from portal.web import login_required


class PreferencesForm(FlaskForm):
    """One select per kind of notification, added at runtime from KINDS."""


def _preferences_form(user: User, formdata: MultiDict[str, str] | None = None) -> FlaskForm:
    current = preferences(user)

    class Form(PreferencesForm):
        pass

    for kind, (label, _default) in KINDS.items():
        setattr(Form, kind, SelectField(label, choices=DELIVERIES, default=current[kind]))
    return Form(formdata=formdata)


@bp.route("/email", methods=["GET", "POST"])
@login_required
def email_preferences() -> ResponseReturnValue:
    form = _preferences_form(
        current_user, formdata=request.form if request.method == "POST" else None
    )
    if request.method == "POST":
        if form.validate():
            email_settings.set_preferences(current_user, {k: form[k].data for k in KINDS})
            db.session.commit()
            flash("Your email settings are saved.", "success")
            return redirect(url_for("account.email_preferences"), code=303)
        return render_template("account/email_preferences.html", form=form), 400
    return render_template("account/email_preferences.html", form=form)


@bp.route("/email/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the credential: mail clients POST it (RFC 8058) with no form
def email_unsubscribe(token: str) -> ResponseReturnValue:
    """A link in every message: GET asks to confirm, POST (or a mail client's one click) acts."""
    try:
        user, kind = email_settings.read_unsubscribe_token(token)
    except InvalidToken as exc:
        return render_template("account/unsubscribe.html", error=exc.message), 400
    # The setting's own name, quoted as on the settings page; None for every kind at once.
    label = None if kind == ALL else KINDS[kind][0]
    if request.method == "POST":
        email_settings.unsubscribe(user, kind)
        db.session.commit()
        return render_template("account/unsubscribe.html", done=True, label=label, user=user)
    return render_template("account/unsubscribe.html", done=False, label=label, user=user)


class OutcomeEmailForm(FlaskForm):
    comment = TextAreaField(
        "Anything to add? (optional)",
        validators=[Optional(), Length(max=2000)],
        render_kw={"rows": 3, "maxlength": 2000},
    )


@bp.route("/email/outcome/<token>", methods=["GET", "POST"])
def email_outcome(token: str) -> ResponseReturnValue:
    """From "Did this meet your need?" in an email: confirm the answer, no sign-in needed."""
    try:
        user, idea, answer = email_settings.read_outcome_token(token)
    except InvalidToken as exc:
        return render_template("account/outcome_email.html", error=exc.message), 400
    if not outcomes.can_answer(user, idea):
        abort(404)  # closed for answers, or hidden since the message was sent
    own = outcomes.own_answer(idea, user)
    form = OutcomeEmailForm(data={"comment": own.comment if own else ""})
    context = {"idea": idea, "answer": answer, "label": outcomes.ANSWERS[answer], "form": form}
    if form.validate_on_submit():
        try:
            outcomes.answer_outcome(idea, user, answer=answer, comment=form.comment.data or "")
        except DomainError as exc:
            db.session.rollback()
            form.form_errors.append(exc.message)
        else:
            db.session.commit()
            return render_template("account/outcome_email.html", done=True, **context)
    status = 400 if form.errors or form.form_errors else 200
    return render_template("account/outcome_email.html", done=False, **context), status
