"""Signing up, in and out; confirming an address; resetting a forgotten password."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from portal.auth import gate, invite_views, sso_views, two_factor_views, views  # noqa: E402, F401  (registers the routes on bp)
