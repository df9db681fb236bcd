"""The product team's own pages: the triage queue."""

from flask import Blueprint

bp = Blueprint("team", __name__, url_prefix="/team")

from portal.team import release_views, views  # noqa: E402, F401
