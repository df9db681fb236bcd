"""The forms of the admins' webhook pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, StringField
from wtforms.validators import InputRequired

from portal.forms import text_limit
from portal.services import webhooks


class WebhookForm(FlaskForm):
    """An endpoint's settings; the ticked events arrive as the list "events"."""

    url = StringField(
        "Address (URL)",
        description="Where to POST each event, such as https://hooks.slack.com/services/… "
        "Addresses inside the portal's own network are refused.",
        validators=[InputRequired(message="Give the address to send events to.")],
        render_kw={"autocomplete": "off", "spellcheck": "false", "inputmode": "url"},
    )
    description = StringField(
        "Description",
        description="What it is for, such as “#product channel”.",
        validators=[text_limit(webhooks.DESCRIPTION_MAX)],
        render_kw={"autocomplete": "off"},
    )
    format = RadioField(
        "Format",
        choices={f.value: label for f, label in webhooks.FORMAT_LABELS.items()},
        default="standard",
        validate_choice=False,
    )
    audience = RadioField(
        "What it may receive",
        choices={a.value: label for a, label in webhooks.AUDIENCE_LABELS.items()},
        default="public",
        validate_choice=False,
    )
    vote_thresholds = StringField(
        "Vote counts",
        description="For votes: only tell when an idea's vote count reaches one of these, "
        "such as 10, 50, 100. Leave empty to hear of every vote.",
        render_kw={"autocomplete": "off", "inputmode": "numeric"},
    )
    enabled = BooleanField("Enabled", default=True)


class LocalHostsForm(FlaskForm):
    local_hosts = StringField(
        "Hosts allowed on the local network",
        description="Webhooks never call addresses inside the portal's network (this machine, "
        "private and link-local addresses). To try a receiver running here, list its host, "
        "such as localhost or 127.0.0.1:8080, separated by spaces.",
        validators=[text_limit(webhooks.LOCAL_HOSTS_MAX)],
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
