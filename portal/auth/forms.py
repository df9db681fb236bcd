"""Forms for signing up, signing in and recovering an account."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, Field, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from portal.forms import HumanCheck, check_new_password, new_password_field

EMAIL_FIELD_ARGS = {
    "validators": [InputRequired(message="Enter your email address."), Length(max=254)],
    "filters": [lambda v: v.strip() if isinstance(v, str) else v],
    "render_kw": {"autocomplete": "email", "maxlength": 254},
}


class IntentFields:
    """What the person came to do (portal.intent), carried through the form's POST."""

    intent = HiddenField()
    idea = HiddenField()


class SignUpForm(IntentFields, HumanCheck):
    # A password manager fills this in a second or two: speed alone refuses nobody here.
    fill_time = False

    email = EmailField("Email address", **EMAIL_FIELD_ARGS)
    display_name = StringField(
        "Display name",
        description="Shown next to your ideas and comments.",
        validators=[InputRequired(message="Enter a display name."), Length(min=2, max=60)],
        render_kw={"autocomplete": "nickname", "maxlength": 60},
    )
    password = new_password_field()
    accept_guidelines = BooleanField(
        "I have read the community guidelines and agree to follow them",
        validators=[DataRequired(message="Please read and accept the community guidelines.")],
    )

    def validate_password(self, field: Field) -> None:
        check_new_password(
            self, field, email=self.email.data or "", display_name=self.display_name.data or ""
        )


class SignInForm(IntentFields, FlaskForm):
    email = EmailField("Email address", **EMAIL_FIELD_ARGS)
    password = PasswordField(
        "Password",
        validators=[InputRequired(message="Enter your password."), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField("Keep me signed in on this device for 30 days")
    next = HiddenField()


class EmailOnlyForm(FlaskForm):
    email = EmailField("Email address", **EMAIL_FIELD_ARGS)


class ResetPasswordForm(FlaskForm):
    password = new_password_field("New password")

    def validate_password(self, field: Field) -> None:
        check_new_password(self, field)


class ConfirmForm(FlaskForm):
    """A button and a CSRF token: for actions reached from a link in an email."""
