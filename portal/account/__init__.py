"""A person's own account: profile, display name, password and email settings."""

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from portal.account import (  # noqa: E402, F401
    api_key_views,
    email_views,
    sso_views,
    two_factor_views,
    views,
)
