"""Forms for the team's own pages: moving several ideas from the triage queue at once."""

from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import InputRequired, Length


class BulkMoveForm(FlaskForm):
    """The ticked ideas, one stage and one note; the queue's template lays out the fields."""

    stage_id = SelectField("Move the ticked ideas to", choices=[], validate_choice=False)
    note = TextAreaField(
        "Note to everyone following them",
        validators=[InputRequired(message="Write a note to the followers."), Length(max=5000)],
    )
