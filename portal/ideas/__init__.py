"""Ideas: submitting, reading, voting, the conversation, following and notifications."""

from flask import Blueprint

bp = Blueprint("ideas", __name__)

from portal.ideas import views  # noqa: E402, F401
