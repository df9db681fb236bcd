"""Forms on the admin pages, and the one way a button on them acts."""

from collections.abc import Callable

from flask import abort, flash, redirect
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal.extensions import db
from portal.models import Role
from portal.services.errors import DomainError

ROLE_CHOICES = {r.value: r.label for r in Role}


class UserSearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField("Name or email", validators=[Length(max=100)])
    role = SelectField("Role", choices={"": "Any role", **ROLE_CHOICES}, validate_choice=False)
    status = SelectField(
        "Status",
        choices={"": "Any status", "active": "Active", "suspended": "Suspended"},
        validate_choice=False,
    )


class OutboxSearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search changes nothing

    q = StringField(
        "Recipient", description="Part of the email address.", validators=[Length(max=254)]
    )
    status = SelectField("Status", choices=[], validate_choice=False)
    kind = SelectField("Kind", choices=[], validate_choice=False)


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)

    @staticmethod
    def role_label(value: str) -> str:
        return ROLE_CHOICES.get(value, value).lower()


class SuspendForm(FlaskForm):
    reason = TextAreaField(
        "Reason",
        description="The person sees this when they try to sign in.",
        validators=[InputRequired(message="Give a reason."), Length(min=5, max=500)],
        render_kw={"maxlength": 500, "rows": 3},
    )
    hide_content = BooleanField(
        "Also hide all their ideas and comments",
        description="For spammers: everything they posted disappears for customers at once.",
    )


class ActionForm(FlaskForm):
    """A button and a CSRF token."""


def button_action(action: Callable[[], object], success: str, *, back: str) -> BaseResponse:
    """A one-click action behind a CSRF-checked button: act, commit and say so, or say why
    not; then back to the page it was pressed on."""
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        action()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(success, "success")
    return redirect(back, code=303)


class OrganisationForm(FlaskForm):
    organisation_id = SelectField("Organisation", choices=[], validate_choice=False)


class StageForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(min=2, max=60)])
    description = TextAreaField(
        "What it means for customers",
        description="Shown on every idea in this stage.",
        validators=[InputRequired(), Length(max=2000)],
        render_kw={"rows": 3},
    )
    is_closed = BooleanField("Closed: ideas here are finished (shipped, declined, merged)")
    voting_allowed = BooleanField("Customers can vote on ideas in this stage")
    response_days = StringField(
        "Response commitment in days",
        description="How soon customers hear from the team again. Leave empty for no promise.",
        validators=[Length(max=3)],
        render_kw={"inputmode": "numeric"},
    )
    position = StringField("Position in the pipeline", validators=[InputRequired(), Length(max=3)])
    colour = StringField(
        "Badge colour",
        description="A hex code such as #bfdbfe. Text on it must be easy to read (4.5:1); "
        "leave it empty for a plain grey badge.",
        validators=[Length(max=20)],
        render_kw={"placeholder": "#bfdbfe", "autocomplete": "off"},
    )


class HideForm(FlaskForm):
    reason = TextAreaField(
        "Reason, shown to the author",
        description="Say which guideline it breaks, so they can do better next time.",
        validators=[InputRequired(message="Tell the author why."), Length(min=3, max=500)],
        render_kw={"maxlength": 500, "rows": 2},
    )


class ModeratorIdeaForm(FlaskForm):
    title = StringField(
        "Title", validators=[InputRequired(message="Give the idea a title."), Length(max=120)]
    )
    problem = TextAreaField(
        "Problem",
        validators=[InputRequired(message="Describe the problem."), Length(max=20_000)],
        render_kw={"rows": 8},
    )
    solution = TextAreaField("Solution", validators=[Length(max=20_000)], render_kw={"rows": 5})
    note = TextAreaField(
        "Why you changed it, shown to the author",
        validators=[InputRequired(message="Tell the author why."), Length(min=3, max=500)],
        render_kw={"maxlength": 500, "rows": 2},
    )


class ModeratorCommentForm(FlaskForm):
    body = TextAreaField(
        "Comment",
        validators=[InputRequired(message="The comment cannot be empty."), Length(max=10_000)],
        render_kw={"rows": 6},
    )
    note = TextAreaField(
        "Why you changed it, shown to the author",
        validators=[InputRequired(message="Tell the author why."), Length(min=3, max=500)],
        render_kw={"maxlength": 500, "rows": 2},
    )


class EraseForm(FlaskForm):
    """An admin erases an account at the person's request."""

    confirm = BooleanField(
        "The person asked for their account to be erased",
        validators=[InputRequired(message="Tick this to confirm the person asked for it.")],
    )
    remove_posts = BooleanField(
        "Also remove their ideas and comments",
        description="Otherwise they stay, shown as by “A former member”.",
    )
