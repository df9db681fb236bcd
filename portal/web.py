"""Small helpers for views: who is asking, from where, and where to send them next."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request, url_for


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
