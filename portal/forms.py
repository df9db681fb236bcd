"""Form pieces shared by several areas."""

from __future__ import annotations

from wtforms import PasswordField
from wtforms.validators import InputRequired, Length, ValidationError

from portal.services.errors import DomainError
from portal.services.passwords import password_problem


def new_password_field(label: str = "Password") -> PasswordField:
    # No length limit beyond a generous cap; any characters, spaces and emoji included.
    return PasswordField(
        label,
        validators=[InputRequired(message="Choose a password."), Length(max=256)],
        render_kw={"autocomplete": "new-password", "minlength": 8, "maxlength": 256},
    )


def check_new_password(form, field, *, email: str = "", display_name: str = "") -> None:
    problem = password_problem(field.data or "", email=email, display_name=display_name)
    if problem:
        raise ValidationError(problem)


def apply_domain_error(form, error: DomainError) -> None:
    """Show a service's refusal next to the field it concerns, or at the top of the form."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def handle_submission(form, action, *, success: str, redirect_to):
    """The usual life of a form post: validate, act, commit, flash, redirect.

    Returns the redirect when the action succeeded, or None when the page should be shown
    again with the form's errors (from validation, or the service's DomainError) and
    everything the person typed. `redirect_to` is a URL or a function of the action's result.
    """
    from flask import flash, redirect

    from portal.extensions import db

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
