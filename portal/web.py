"""Small helpers for views: who is asking, from where, and where to send them next."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import abort, request, url_for
from werkzeug.routing import IntegerConverter, Map


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
