"""Forms for inviting people to a private board or a private portal."""

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import InputRequired, Length


class InviteForm(FlaskForm):
    emails = TextAreaField(
        "Email addresses",
        description="One address a line. Each person gets their own link, which works once, "
        "for 14 days. Inviting someone again sends them a new link.",
        validators=[
            InputRequired(message="Enter at least one email address, one a line."),
            Length(max=20_000, message="That is too much text for one invitation form."),
        ],
        render_kw={"rows": 5, "autocapitalize": "none", "spellcheck": "false"},
    )
