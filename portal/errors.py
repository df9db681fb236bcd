"""Error pages: plain and friendly for browsers, JSON for scripts that ask, never a traceback."""

from __future__ import annotations

import time

from flask import Flask, Response, jsonify, make_response, render_template
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from portal.extensions import db, limiter
from portal.limits import wait_in_words
from portal.permissions import PermissionDenied
from portal.web import wants_json

MESSAGES = {
    400: ("Something in that request was not right", "Check what you entered and try again."),
    403: ("You can't do that here", "Your account does not have permission for this page."),
    404: ("We can't find that page", "It may have been moved or removed, or the link is mistyped."),
    405: ("That doesn't work here", "This page cannot be used that way."),
    413: (
        "That was too much to send at once",
        "What you sent is larger than we accept. Shorten it and try again.",
    ),
    429: ("Slow down a little", "You have done that too many times in a short while."),
    500: (
        "Something went wrong on our side",
        "We have logged the problem. Please try again in a moment.",
    ),
}


def seconds_until_retry() -> int | None:
    """Seconds until the limit the request broke lets it through again, if it broke one."""
    current = limiter.current_limit
    return max(1, int(current.reset_at - time.time())) if current else None


def _render(status: int, detail: str | None = None, retry_after: int | None = None) -> Response:
    title, message = MESSAGES.get(status, MESSAGES[500 if status >= 500 else 400])
    if wants_json():
        return make_response(jsonify(error=title, detail=detail or message), status)
    page = render_template(
        "errors/error.html",
        status=status,
        title=title,
        message=message,
        detail=detail,
        retry_in=wait_in_words(retry_after) if retry_after else None,
    )
    return make_response(page, status)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> ResponseReturnValue:
        return _render(
            400,
            "The form had expired or came from another site. Go back, reload the page and "
            "send it again.",
        )

    @app.errorhandler(PermissionDenied)
    def permission_denied(_exc: PermissionDenied) -> ResponseReturnValue:
        db.session.rollback()
        return _render(403)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        from portal.api.core import http_error_for_api

        if (
            exc.code is not None
            and exc.code >= 400
            and (api := http_error_for_api(exc, seconds_until_retry() if exc.code == 429 else None))
        ):
            return api
        if exc.code == 429 and exc.response is not None:
            return exc.response
        if exc.code is None or exc.code < 400:
            return exc
        detail = None
        if exc.code == 400 and exc.description != type(exc).description:
            detail = exc.description
        retry_after = seconds_until_retry() if exc.code == 429 else None
        response = _render(exc.code, detail, retry_after)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(InternalServerError)
    def server_error(exc: InternalServerError) -> ResponseReturnValue:
        from portal.api.core import server_error_for_api

        db.session.rollback()
        if api := server_error_for_api():
            return api
        return _render(500)
