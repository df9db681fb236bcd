"""Forms for the team's own pages: moving several ideas at once, saved filters, triage."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length


class BulkMoveForm(FlaskForm):
    """The ticked ideas, one stage and one note; the queue's template lays out the fields."""

    stage_id = SelectField("Move the ticked ideas to", choices=[], validate_choice=False)
    note = TextAreaField(
        "Note to everyone following them",
        validators=[InputRequired(message="Write a note to the followers."), Length(max=5000)],
    )


class SavedFilterForm(FlaskForm):
    """A name for the filters being looked at (or a new name for a saved filter)."""

    name = StringField(
        "Name",
        validators=[InputRequired(message="Give the filter a name, such as “Mine, overdue”.")],
        render_kw={"autocomplete": "off"},
    )
    shared = BooleanField("Share it with the team")


class TriageActionForm(FlaskForm):
    """A one-click action in the triage flow (skip, assign to me, delete): the CSRF token."""
