"""Administration: people and roles, moderation, site settings, stages, the audit log."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from portal.admin import moderation_views, outbox_views, settings_views, views  # noqa: E402, F401
