"""Forms on the account page."""

from flask_wtf import FlaskForm
from wtforms import Field, PasswordField, StringField
from wtforms.validators import InputRequired, Length

from portal.forms import check_new_password, new_password_field


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
