"""Forms on the admin pages."""

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal.models import Role

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


class ActionForm(FlaskForm):
    """A button and a CSRF token."""


class OrganisationForm(FlaskForm):
    organisation_id = SelectField("Organisation", choices=[], validate_choice=False)
