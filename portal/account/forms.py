"""Forms on the account page."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, PasswordField, SelectMultipleField, StringField
from wtforms.fields import DateField
from wtforms.validators import InputRequired, Length, Optional

from portal.forms import Rule, check_new_password, new_password_field
from portal.services import api_keys


class DisplayNameForm(FlaskForm):
    display_name = StringField(
        "Display name",
        validators=[InputRequired(message="Enter a display name."), Length(min=2, max=60)],
        render_kw={"autocomplete": "nickname", "maxlength": 60},
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password",
        validators=[InputRequired(message="Enter your current password."), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = new_password_field("New password")

    def validate_new_password(self, field: Field) -> None:
        check_new_password(self, field)


class ApiKeyForm(FlaskForm):
    """A new API key. The scopes offered are set per person; the service checks them all."""

    # Every field is checked by the service, so one round names every problem in its words;
    # the rule here only shows the name's limit.
    name = StringField(
        "Name",
        validators=[Rule(lambda _name: None, limit=api_keys.NAME_MAX)],
        description="What it is for, so you recognise it later: “Weekly report script”.",
        render_kw={"autocomplete": "off"},
    )
    scopes = SelectMultipleField("What it may do", choices=[], validate_choice=False)
    expires_at = DateField(
        "Expires on (optional)",
        validators=[Optional()],
        invalid_value_message="Write the day as YYYY-MM-DD, such as 2027-03-31.",
    )


class EraseAccountForm(FlaskForm):
    """Erasing one's own account, confirmed with the password (or the email address)."""

    confirmation = PasswordField(
        "Your password",
        validators=[InputRequired(message="Type it to confirm."), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    remove_posts = BooleanField(
        "Also remove my ideas and comments",
        description="Otherwise they stay, shown as by “A former member”.",
    )
