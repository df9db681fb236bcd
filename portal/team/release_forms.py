"""The release form: a title, a Markdown note and the ideas it ships (ticked in the page)."""

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from portal.forms import text_limit
from portal.services.releases import NOTE_MAX


class ReleaseForm(FlaskForm):
    title = StringField(
        "Release title",
        description="What customers see at the top of the changelog, such as “Spring update”.",
        render_kw={"autocomplete": "off"},
    )
    note = TextAreaField(
        "Release note",
        description=(
            "Markdown. What changed and how people use it: every follower of the ideas below "
            "receives it when you publish."
        ),
        validators=[text_limit(NOTE_MAX)],
        render_kw={"rows": 12},
    )
    q = StringField(
        "Find ideas by title",
        description="Open ideas and ideas shipped already; tick the ones this release ships.",
        render_kw={"type": "search", "autocomplete": "off"},
    )


class ActionOnlyForm(FlaskForm):
    """Publish and delete: nothing but the CSRF token."""
