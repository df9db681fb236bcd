"""A person's own account: profile, display name and password."""

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from portal.account import views  # noqa: E402, F401
