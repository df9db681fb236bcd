"""Forms for ideas, comments, reports, and the team's tools on an idea."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired

from portal.forms import HumanCheck, Rule, text_limit
from portal.services.on_behalf import QUOTE_MAX
from portal.services.outcomes import COMMENT_MAX as OUTCOME_COMMENT_MAX
from portal.services.pipeline import NOTE_MAX as STAGE_NOTE_MAX
from portal.services.reports import DETAIL_MAX as REPORT_DETAIL_MAX
from portal.services.reports import REASONS as REPORT_REASONS
from portal.services.triage import NOTE_MAX as INTERNAL_NOTE_MAX
from portal.services.validation import (
    BODY_MAX,
    COMMENT_MISSING,
    PROBLEM_MISSING,
    TEXT_MAX,
    TITLE_MAX,
    title_problem,
)

# Long text is checked by the services' rules (Rule, text_limit): every field's problem is said
# in one round, and text over its limit is refused with the text kept, never cut to fit.


class IdeaForm(FlaskForm):
    title = StringField(
        "Title",
        description="A short summary of the need, such as “Export reports to Excel”.",
        validators=[
            InputRequired(message="Give the idea a title."),
            Rule(title_problem, limit=TITLE_MAX),
        ],
        render_kw={"autocomplete": "off"},
    )
    problem = TextAreaField(
        "What problem does it solve for you?",
        description="Who runs into it, when, and what it costs you today. Markdown works.",
        validators=[
            InputRequired(message=PROBLEM_MISSING),
            text_limit(TEXT_MAX, missing=PROBLEM_MISSING),
        ],
        render_kw={"rows": 6},
    )
    solution = TextAreaField(
        "Your proposed solution (optional)",
        description="If you have an idea of how it could work, tell us.",
        validators=[text_limit(TEXT_MAX)],
        render_kw={"rows": 4},
    )
    category_id = SelectField("Category", choices=[], validate_choice=False)
    as_concept = BooleanField("Publish as a concept from the team, asking for feedback")
    confirmed = HiddenField()


class NewIdeaForm(HumanCheck, IdeaForm):
    """Submitting, where spam bots come in: with the honeypot and the minimum fill time."""

    # A board's slug; hidden when the person may post to one board only.
    board = SelectField("Board", choices=[], validate_choice=False)


class CommentForm(FlaskForm):
    body = TextAreaField(
        "Your comment",
        description="Markdown works. Be kind and specific.",
        validators=[
            InputRequired(message=COMMENT_MISSING),
            text_limit(BODY_MAX, missing=COMMENT_MISSING),
        ],
        render_kw={"rows": 4},
    )
    parent_id = HiddenField()


class ActionForm(FlaskForm):
    """A button with a CSRF token; `action` says which of two states is wanted."""

    action = HiddenField()
    next = HiddenField()


class MoveForm(FlaskForm):
    stage_id = SelectField("Move to", choices=[], validate_choice=False)
    note = TextAreaField(
        "Note to everyone following",
        description="Public: what this change means for them and what happens next.",
        validators=[
            InputRequired(message="Write a note to the followers."),
            text_limit(STAGE_NOTE_MAX, missing="Write a note to the followers."),
        ],
        render_kw={"rows": 3},
    )


class BoardMoveForm(FlaskForm):
    board_id = SelectField("Move to the board", choices=[], validate_choice=False)
    # Offered only when the idea's stage is not in the chosen board's own pipeline.
    stage_id = SelectField("Its stage on that board", choices=[], validate_choice=False)
    note = TextAreaField(
        "Note to everyone following (optional)",
        id="board_note",
        description="They read it in the app and by email, if they can see the new board. "
        "Those who cannot are not told.",
        validators=[text_limit(STAGE_NOTE_MAX)],
        render_kw={"rows": 3},
    )
    # Set on the review page: the person saw who will newly see the idea and went on.
    confirmed = HiddenField()


class MergeForm(FlaskForm):
    # Chosen on the merge page (search or suggestions), never typed: it rides in a hidden field.
    target_id = HiddenField(
        validators=[InputRequired(message="Choose the idea to keep first.")],
    )
    note = TextAreaField(
        "Note to everyone following this duplicate",
        id="merge_note",
        description="They read it in the app and by email, with a link to the idea you keep.",
        validators=[
            InputRequired(message="Write a note to the followers."),
            text_limit(STAGE_NOTE_MAX, missing="Write a note to the followers."),
        ],
        render_kw={"rows": 3},
    )


class UnmergeForm(FlaskForm):
    note = TextAreaField(
        "Note to everyone following this idea",
        id="unmerge_note",
        description="Why it stands on its own again; they read it in the app and by email.",
        validators=[
            InputRequired(message="Write a note to the followers."),
            text_limit(STAGE_NOTE_MAX, missing="Write a note to the followers."),
        ],
        render_kw={"rows": 3},
    )


class OutcomeForm(FlaskForm):
    answer = HiddenField()  # set by whichever of the three buttons was pressed
    comment = TextAreaField(
        "Anything to add? (optional)",
        validators=[text_limit(OUTCOME_COMMENT_MAX)],
        render_kw={"rows": 2},
    )


class ReportForm(FlaskForm):
    reason = RadioField(
        "What is wrong with it?",
        choices=REPORT_REASONS,
        validators=[InputRequired(message="Choose what is wrong with it.")],
    )
    detail = TextAreaField(
        "Anything the moderators should know? (required for “Something else”)",
        validators=[text_limit(REPORT_DETAIL_MAX)],
        render_kw={"rows": 3},
    )


ESTIMATES = {"": "Not judged yet"} | {str(n): str(n) for n in range(1, 6)}


class OwnerForm(FlaskForm):
    owner_id = SelectField(
        "Owner, shown to customers as their contact", choices=[], validate_choice=False
    )


class EstimatesForm(FlaskForm):
    impact = SelectField("Impact (1 low to 5 high)", choices=ESTIMATES, validate_choice=False)
    effort = SelectField("Effort (1 low to 5 high)", choices=ESTIMATES, validate_choice=False)


class TimeframeForm(FlaskForm):
    """When customers can expect the idea; the choices follow the admins' scheme."""

    timeframe = SelectField(
        "Timeframe customers see",
        description="Shown on the roadmap and on this page.",
        choices=[],
        validate_choice=False,
    )


class InternalNoteForm(FlaskForm):
    body = TextAreaField(
        "Internal note (team only)",
        id="internal_note",
        validators=[
            InputRequired(message="Write the note first."),
            text_limit(INTERNAL_NOTE_MAX, missing="Write the note first."),
        ],
        render_kw={"rows": 3},
    )


class TeamVoteForm(FlaskForm):
    """A vote the team adds for a customer: a person found by search, or an organisation."""

    q = HiddenField()  # the search that listed the people, so an error shows them again
    user_id = RadioField("Customer", choices=[], validate_choice=False)
    organisation_id = SelectField(
        "Or, if no person was named, their organisation",
        description="An organisation counts once, however many people the team heard from.",
        choices=[],
        validate_choice=False,
    )
    source = RadioField(
        "Where did they tell you?",
        choices=[],
        validators=[InputRequired(message="Choose where the customer told you.")],
    )
    quote = TextAreaField(
        "What they said (optional)",
        description="Their words help the team weigh the idea. Only the team sees them.",
        validators=[text_limit(QUOTE_MAX)],
        render_kw={"rows": 3},
    )


class RemoveTeamVoteForm(FlaskForm):
    vote_id = HiddenField()
