"""Administration: people and roles, moderation, site settings, stages, boards, webhooks, the
audit log."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from portal.admin import (  # noqa: E402, F401
    board_views,
    invite_views,
    moderation_views,
    outbox_views,
    roadmap_settings_views,
    settings_views,
    sso_views,
    views,
    webhook_views,
)
