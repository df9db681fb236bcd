"""Forms for the team's tools on an idea."""

from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import InputRequired, Length

ESTIMATES = {"": "Not judged yet"} | {str(n): str(n) for n in range(1, 6)}


class OwnerForm(FlaskForm):
    owner_id = SelectField(
        "Owner, shown to customers as their contact", choices=[], validate_choice=False
    )


class EstimatesForm(FlaskForm):
    impact = SelectField("Impact (1 low to 5 high)", choices=ESTIMATES, validate_choice=False)
    effort = SelectField("Effort (1 low to 5 high)", choices=ESTIMATES, validate_choice=False)


class InternalNoteForm(FlaskForm):
    body = TextAreaField(
        "Internal note (team only)",
        id="internal_note",
        validators=[InputRequired(message="Write the note first."), Length(max=5000)],
        render_kw={"rows": 3},
    )
