"""A person's own account: profile, display name, password and email settings."""

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from portal.account import email_views, views  # noqa: E402, F401
