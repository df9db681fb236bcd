"""The JSON API, version 1 (/api/v1): the site's services, for scripts and other systems.

Requests are authenticated by an API key sent as `Authorization: Bearer …` and nothing else:
no cookie is read or set under /api/ (portal.api.core.ApiSessionInterface), so a browser's
sign-in never authenticates an API call and there is nothing for another site to forge; hence
no CSRF token either. Every operation is declared once (portal.api.core.operation), and the
OpenAPI 3.1 document at /api/v1/openapi.json is generated from those declarations.
"""

from flask import Blueprint

PREFIX = "/api/v1"

bp = Blueprint("api", __name__, url_prefix=PREFIX)
# The reference page is a page of the site (with the visitor's own sign-in), outside PREFIX.
docs_bp = Blueprint("api_docs", __name__)

from portal.api import (  # noqa: E402, F401  (registers the operations on bp)
    reference,
    views,
)
