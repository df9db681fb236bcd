"""Forms for the team's own pages: moving several ideas at once, estimates in the priority
table, the priority formula's weights, saved filters, triage."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal.services.scoring import FACTORS


class BulkMoveForm(FlaskForm):
    """The ticked ideas, one stage and one note; the queue's template lays out the fields."""

    stage_id = SelectField("Move the ticked ideas to", choices=[], validate_choice=False)
    note = TextAreaField(
        "Note to everyone following them",
        validators=[InputRequired(message="Write a note to the followers."), Length(max=5000)],
    )


ESTIMATE_CHOICES = {"": "—"} | {str(n): str(n) for n in range(1, 6)}


class RowEstimatesForm(FlaskForm):
    """Impact and effort in one row of the priority table; `back` is the page's query string,
    so saving returns to the same filtered, sorted view."""

    impact = SelectField("Impact", choices=ESTIMATE_CHOICES, validate_choice=False)
    effort = SelectField("Effort", choices=ESTIMATE_CHOICES, validate_choice=False)
    back = HiddenField()


class FormulaForm(FlaskForm):
    """One weight per factor of the score (portal.services.scoring.FACTORS)."""


for _factor in FACTORS:
    setattr(
        FormulaForm,
        _factor.key,
        StringField(
            _factor.label,
            description=_factor.explanation,
            validators=[Length(max=10)],
            render_kw={"inputmode": "decimal", "autocomplete": "off", "size": 6},
        ),
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
