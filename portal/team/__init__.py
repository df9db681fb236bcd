"""The product team's own pages: the triage inbox and triage mode, the dashboard, priorities."""

from flask import Blueprint

bp = Blueprint("team", __name__, url_prefix="/team")

from portal.team import inbox_views, release_views, views  # noqa: E402, F401
