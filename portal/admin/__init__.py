"""Administration: people and roles (more settings arrive with moderation)."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from portal.admin import views  # noqa: E402, F401
