"""Per-person rate limits on posting, voting and reporting (Flask-Limiter).

The limits live in the configuration (LIMIT_*), with tighter ones for accounts in their first
day. They count per person, not per address, so people behind one office proxy don't share a
budget; the team is exempt. The counters sit in Redis when REDIS_URL is set, so every worker
and machine sees the same ones, and otherwise in a SQLite file in the instance folder, which
every worker of the machine sees (portal/limit_storage.py).

The same storage remembers what may be used only once (first_use), such as a form's token.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, request, session
from flask_limiter import RequestLimit, RouteLimit
from flask_limiter.util import get_qualified_name, get_remote_address
from flask_login import current_user
from limits.storage import Storage, storage_from_string

from portal import limit_storage  # noqa: F401 (registers the sqlite-limits:// storage)
from portal.extensions import limiter
from portal.permissions import is_exempt_from_limits, is_signed_in
from portal.services.abuse import is_new_account


def init_app(app: Flask) -> None:
    """Point the process's one limiter at this app's storage, with this app's key prefix.

    Flask-Limiter builds a new storage at every init_app from RATELIMIT_STORAGE_URI and
    RATELIMIT_STORAGE_OPTIONS, so the prefix goes to the storage (Redis and the SQLite file name
    each key with it; memory:// is the app's own anyway) rather than to the limiter's prefix,
    which is set once.
    """
    options = {
        **app.config.get("RATELIMIT_STORAGE_OPTIONS", {}),
        "key_prefix": app.config["RATELIMIT_KEY_PREFIX"],
    }
    app.config["RATELIMIT_STORAGE_OPTIONS"] = options
    limiter.init_app(app)
    # The app's own handle on the storage, there even while rate limiting is switched off.
    app.extensions[_ONCE] = storage_from_string(app.config["RATELIMIT_STORAGE_URI"], **options)


_ONCE = "portal_used_once"

READS = frozenset({"GET", "HEAD", "OPTIONS"})
# (endpoint, view, method) -> whether a limit of the route or its blueprint counts that method.
# Routes get their limits when their modules are imported, before any request.
_route_limits_reads: dict[tuple[str, str, str], bool] = {}


@limiter.request_filter
def _read_that_no_limit_counts() -> bool:
    """Skip Flask-Limiter's checks for a read that no limit could count (True skips them).

    Every limit of the portal is on a POST, yet the limiter resolved each page view's limits
    before and after it, a good part of the time a cached page takes. Skipped only when
    nothing could apply: no default, application-wide or meta limit is set (an operator may
    set RATELIMIT_DEFAULT, say), and no limit of the route or its blueprint names the method.
    """
    endpoint = request.endpoint
    if request.method not in READS or endpoint is None:
        return False
    manager = limiter.limit_manager
    # Flask-Limiter keeps meta limits on the limiter alone; an unknown version never skips.
    meta_limits = getattr(limiter, "_meta_limits", None)
    if manager.default_limits or manager.application_limits or meta_limits != []:
        return False
    view = current_app.view_functions.get(endpoint)
    key = (endpoint, get_qualified_name(view) if view else "", request.method)
    counts = _route_limits_reads.get(key)
    if counts is None:
        limits = [
            *manager.decorated_limits(key[1]),
            *manager.blueprint_limits(current_app, request.blueprint or ""),
        ]
        counts = any(
            limit.methods is None or request.method.lower() in limit.methods or limit.meta_limits
            for limit in limits
        )
        _route_limits_reads[key] = counts
    return not counts


def first_use(key: str, *, remember_seconds: float) -> bool:
    """Note that `key` was used: True the first time, False every time after, for as long as
    remember_seconds, on every worker and (with Redis) every machine of the site."""
    storage: Storage = current_app.extensions[_ONCE]
    return storage.incr(f"used-once/{key}", int(remember_seconds) + 1) == 1


def per_person() -> str:
    if is_signed_in(current_user):
        return f"person:{current_user.id}"
    return f"ip:{get_remote_address()}"


def _limit_value(name: str, new_account_name: str | None) -> Callable[[], str]:
    """The configured limit, read at each request: the new-account one for new accounts."""

    def value() -> str:
        if new_account_name and is_signed_in(current_user) and is_new_account(current_user):
            return current_app.config[new_account_name]
        return current_app.config[name]

    return value


def counted() -> None:
    """Call when the request did the limited thing (posted, voted, reported): it counts."""
    g.rate_limit_counted = True


def wait_phrase(limit: RequestLimit | None) -> str:
    """How long until the limit lets the person through again, in words."""
    seconds = max(1, int(limit.reset_at - time.time())) if limit is not None else 60
    return wait_in_words(seconds)


def wait_in_words(seconds: int) -> str:
    """A wait of this many seconds, as a person would say it: "1 second", "5 minutes"."""
    if seconds < 90:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"


def per_person_limit(
    name: str,
    *,
    new_accounts: str | None = None,
    keep_typed: Callable[[RequestLimit], str] | None = None,
    unless: Callable[[], bool] | None = None,
    scope: str | None = None,
) -> RouteLimit:
    """Decorate a POST view with the configured limit, counted only when counted() was called.

    keep_typed(limit) renders the page again with what the person typed and an explanation;
    it is sent with status 429 (and Retry-After). Without it, the plain 429 page is shown.
    unless() exempts a request (undoing a vote, say). Routes given the same scope share one
    budget (reporting an idea or a comment).
    """

    def exempt() -> bool:
        return is_exempt_from_limits(current_user) or bool(unless and unless())

    def deduct(_response: Response) -> bool:
        return bool(g.get("rate_limit_counted"))

    def typed_again(limit: RequestLimit) -> Response | None:
        return current_app.make_response((keep_typed(limit), 429)) if keep_typed else None

    on_breach = typed_again if keep_typed else None

    # Routes of one scope draw on one shared budget; any other route has its own.
    decorate = functools.partial(limiter.shared_limit, scope=scope) if scope else limiter.limit
    return decorate(
        _limit_value(name, new_accounts),
        key_func=per_person,
        methods=["POST"],
        exempt_when=exempt,
        deduct_when=deduct,
        on_breach=on_breach,
    )


def api_limit() -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Every API operation draws on one budget per person (LIMIT_API), reads included."""
    return limiter.shared_limit(
        lambda: current_app.config["LIMIT_API"], scope="api", key_func=per_person
    )


def too_many_message(what: str, limit: RequestLimit | None) -> str:
    """Why the form came back: the limit, and how long to wait before sending it again."""
    return (
        f"You have {what} several times in a short while. To keep spam out there is a limit; "
        f"please wait {wait_phrase(limit)} and send it again. What you typed is still here."
    )


# --- Two-factor codes -----------------------------------------------------------------------

ViewT = TypeVar("ViewT", bound=Callable[..., Any])
TWO_FACTOR_PENDING = "two_factor_pending"  # the session key of a sign-in waiting for its code


def code_failed() -> None:
    """Count this request against the two-factor limits (a wrong code or password)."""
    g.two_factor_failed = True


def _two_factor_account() -> str:
    """The account a code is typed for: the one signing in, or the one signed in."""
    pending = session.get(TWO_FACTOR_PENDING)
    if isinstance(pending, dict) and pending.get("user"):
        return f"two-factor-account:{pending['user']}"
    if is_signed_in(current_user):
        return f"two-factor-account:{current_user.id}"
    return "two-factor-account:none"


def two_factor_limits(
    on_breach: Callable[[RequestLimit], Response],
) -> Callable[[ViewT], ViewT]:
    """Wrong codes, per account and per address, over every page that takes one (one shared
    budget: LIMIT_TWO_FACTOR_PER_ACCOUNT and _PER_IP). Only failures count."""

    def deduct(_response: Response) -> bool:
        return bool(g.get("two_factor_failed"))

    per_ip = limiter.shared_limit(
        lambda: current_app.config["LIMIT_TWO_FACTOR_PER_IP"],
        scope="two-factor-ip",
        methods=["POST"],
        deduct_when=deduct,
        on_breach=on_breach,
    )
    per_account = limiter.shared_limit(
        lambda: current_app.config["LIMIT_TWO_FACTOR_PER_ACCOUNT"],
        scope="two-factor-account",
        key_func=_two_factor_account,
        methods=["POST"],
        deduct_when=deduct,
        on_breach=on_breach,
    )

    def decorate(view: ViewT) -> ViewT:
        return per_ip(per_account(view))  # type: ignore[return-value]

    return decorate
