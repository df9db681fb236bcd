"""Small helpers for views: who is asking, from where, and where to send them next."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any, ParamSpec
from urllib.parse import urlencode, urlsplit

from flask import abort, current_app, jsonify, make_response, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.routing import IntegerConverter, Map

from portal.models import Board
from portal.permissions import is_signed_in
from portal.services import boards

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


def same_origin() -> bool:
    """Whether a browser sent this request from one of our own pages.

    For the rare POST that cannot carry a CSRF token (from a page shared by every signed-out
    visitor): browsers say where a request comes from in Sec-Fetch-Site and Origin, and a page
    of another site cannot change either. A request with neither (not from a current browser)
    passes: a site cannot make a browser send it.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:  # every current browser: it compares with the page itself
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is not None:  # older browsers: the page's origin, ours as seen here or configured
        ours = {request.host, urlsplit(current_app.config.get("BASE_URL") or "").netloc}
        return urlsplit(origin).netloc in ours
    return True


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


ID_MAX = 2**31 - 1  # ids are 32-bit integers: a larger number names nothing, on any database


def parse_number(text: str | None, *, maximum: int = ID_MAX) -> int | None:
    """A whole number from 0 to maximum in ASCII digits (not superscripts or other scripts),
    or None. Never int() of a long string: a thousand digits would cost time and name nothing."""
    if not (text and text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(maximum)):
        return None
    value = int(digits)
    return value if value <= maximum else None


# The query parameters of a page: absent or empty means "not given" (a filter form sends its
# empty fields); a value that is not what the parameter takes is a 400 that names it, because
# quietly ignoring "since=yesterday" would show a list that looks filtered and is not. Choices
# (a sort, a stage's slug) are different: an unknown one falls back to the default, as an old
# link to a stage renamed since should still show something.


def number_arg(name: str, *, maximum: int = ID_MAX) -> int | None:
    """The query parameter name as a whole number from 1 to maximum, or None if not given."""
    text = request.args.get(name, "")
    if text == "":
        return None
    number = parse_number(text, maximum=maximum)
    if not number:  # None, or 0: pages and ids start at 1
        abort(400, f"The “{name}” in the address must be a whole number from 1 to {maximum:,}.")
    return number


def board_arg() -> Board | None:
    """The board `?board=<slug>` names, if this person may see it. Anything else is ignored, as
    if never named, so a private board's address tells those outside it nothing."""
    slug = request.args.get("board", "")
    return boards.board_by_slug(slug, viewer=current_user) if slug else None


_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def date_arg(name: str) -> date | None:
    """The query parameter name as a day written YYYY-MM-DD, or None if not given."""
    text = request.args.get(name, "")
    if text == "":
        return None
    if _ISO_DAY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:  # 2026-02-30, month 13, year 0
            pass
    abort(
        400,
        f"The “{name}” in the address must be a day that exists, written as YYYY-MM-DD "
        "(for example 2026-03-31).",
    )


def url_with_query(endpoint: str, **changes: str | int | None) -> str:
    """endpoint's address with this request's query string, changed (None removes a name).

    url_for(endpoint, **request.args) would hand the visitor's names to url_for itself:
    ?_scheme=x or ?endpoint=x made it raise, and ?_external=1 gave an absolute link.
    """
    args = request.args.to_dict(flat=False)
    for name, value in changes.items():
        args.pop(name, None)
        if value is not None:
            args[name] = [str(value)]
    query = urlencode([(name, value) for name, values in args.items() for value in values])
    # The same page keeps its own address (a board's slug); another page takes none of it.
    path = request.view_args or {} if endpoint == request.endpoint else {}
    return url_for(endpoint, **path) + (f"?{query}" if query else "")


class IdConverter(IntegerConverter):
    """A database id in a URL: 1 up to the largest 32-bit integer, so huge numbers are 404s."""

    def __init__(self, url_map: Map, **_kwargs: Any) -> None:  # a URL's own min/max: ignored
        super().__init__(url_map, min=1, max=ID_MAX)


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
