"""Public pages that belong to no other area: the home page and the community guidelines."""

from flask import Blueprint

bp = Blueprint("main", __name__)

from portal.main import board_views, feeds, views  # noqa: E402, F401
