"""Small helpers for views: who is asking, from where, and where to send them next."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec
from urllib.parse import urlsplit

from flask import abort, jsonify, make_response, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.routing import IntegerConverter, Map

from portal.permissions import is_signed_in

P = ParamSpec("P")
View = Callable[P, ResponseReturnValue]


def wants_json() -> bool:
    """Whether the caller asked for JSON rather than a page (the enhancing scripts do)."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and "text/html" not in request.accept_mimetypes


def login_required(view: View[P]) -> View[P]:
    """Browsers go to sign-in and come back; JSON callers get 401."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if not is_signed_in(current_user):
            if wants_json():
                return make_response(jsonify(error="authentication required"), 401)
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def role_required(predicate: Callable[[Any], bool]) -> Callable[[View[P]], View[P]]:
    """Only people for whom predicate(user) holds; others get 403 (or sign-in if anonymous)."""

    def decorator(view: View[P]) -> View[P]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            if not is_signed_in(current_user):
                return login_required(view)(*args, **kwargs)
            if not predicate(current_user):
                if wants_json():
                    return make_response(jsonify(error="forbidden"), 403)
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def client_ip() -> str | None:
    return request.remote_addr


def user_agent() -> str | None:
    return request.headers.get("User-Agent")


def safe_next(target: str | None, default_endpoint: str = "main.home") -> str:
    """A local path to return to after signing in; anything pointing elsewhere is ignored."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and all(ord(c) > 31 for c in target):
            return target
    return url_for(default_endpoint)


def parse_number(text: str | None, *, maximum: int = 2**31 - 1) -> int | None:
    """A whole number in ASCII digits (not superscripts or other scripts) up to maximum, or None."""
    if text and len(text) <= 10 and text.isascii() and text.isdigit():
        value = int(text)
        return value if value <= maximum else None
    return None


class IdConverter(IntegerConverter):
    """A database id in a URL: 1 up to the largest 32-bit integer, so huge numbers are 404s."""

    def __init__(self, url_map: Map, **_kwargs: Any) -> None:  # a URL's own min/max: ignored
        super().__init__(url_map, min=1, max=2**31 - 1)


def refuse_nul_bytes() -> None:
    """No form or query value may contain a NUL: PostgreSQL cannot store one in text."""
    sources = [request.args]
    if request.method not in ("GET", "HEAD") and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        sources.append(request.form)
    values = [value for source in sources for _key, items in source.lists() for value in items]
    if any("\x00" in value for value in values):
        abort(400, "The request contained a character that is not allowed (NUL).")
