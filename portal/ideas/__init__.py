"""Ideas: submitting, reading, voting, the conversation, following and notifications."""

from flask import Blueprint

bp = Blueprint("ideas", __name__)

from portal.ideas import (  # noqa: E402, F401
    board_views,
    comment_views,
    merge_views,
    notification_views,
    on_behalf_views,
    report_views,
    search_views,
    team_views,
    triage_views,
    views,
)
