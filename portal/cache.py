"""A server-side cache with exact invalidation, and HTTP caching (ETag and 304) for pages.

Exactness comes from one number, the *generation*: every committed transaction that wrote to
the database adds one to it, after the commit and before the response that made the write is
sent. Every cache key holds the generation, so an entry made before a write is never read
after it. A request reads the generation before its first database query; what it computes
from the database is therefore at least as new as the generation it files it under. Writing,
then reading the page: the count is already the new one, on every worker and every server.

Where things live (the classes are in portal/cache_backends.py):
- With REDIS_URL: the generation and the entries are in Redis, shared by every worker of every
  app server.
- Without: entries are in each worker's memory (a bounded LRU), and the generation is a number
  in a memory-mapped file in instance/, shared by the workers of this machine. Several app
  servers on several machines need Redis (docs/deploying.md).

Entries also expire after CACHE_TTL_SECONDS, which bounds what the clock alone changes on a
page: an answer from the team that falls overdue is marked so at most that late.

What is cached: the pages marked `@cached_page` (the lists, idea pages, search, roadmap,
feeds), whole. Anonymous visitors share one copy of each page; a signed-in person has their own,
made for their session (their forms carry its CSRF token). A browser that has the page already
gets 304 without the view running. Since any write starts a new generation, a page is rendered
again after each write anywhere on the site: the cache pays off where reads outnumber writes.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from flask import Config, Flask, Response, current_app, g, has_app_context, request, session
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, ExecutionContext
from sqlalchemy.orm import Session, SessionTransaction

from portal.cache_backends import (
    FileGeneration,
    Generation,
    MemoryStore,
    Page,
    RedisGeneration,
    RedisStore,
    Store,
)
from portal.extensions import db, redis_client
from portal.observability import counter

log = logging.getLogger(__name__)

EXTENSION = "portal_cache"
ROOT = Path(__file__).resolve().parent.parent

# Statements that change nothing a page shows. Anything else that is not a read counts as a
# write: a new kind of statement costs cache hits, never correctness.
_READS = re.compile(r"\s*(SELECT|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA|SHOW|SET)\b", re.I)
_TARGET = re.compile(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.I)
# The email outbox and sign-in sessions appear on no cached page; the delivery thread and
# sign-ins would otherwise empty the cache for nothing.
UNSHOWN_TABLES = frozenset({"outbox", "user_sessions"})
_WROTE = "portal_cache_wrote"

P = ParamSpec("P")
T = TypeVar("T")


# --- The cache -----------------------------------------------------------------------------


class Cache:
    def __init__(self, app: Flask) -> None:
        config = app.config
        self.enabled = bool(config["CACHE_ENABLED"])
        self.ttl = int(config["CACHE_TTL_SECONDS"])
        # Entries made by other code or settings (before a release or a restart) must not be
        # read: the key holds both.
        self.prefix = f"{config['CACHE_KEY_PREFIX']}:{code_version()}:{settings_version(config)}"
        self.generations: Generation
        # remembered(): each value with the generation it was read at (replaced whole, so
        # threads never see half of one).
        self.memo: dict[str, tuple[int, Any]] = {}
        self.store: Store
        if config["REDIS_URL"]:
            client = redis_client(config["REDIS_URL"])
            self.generations = RedisGeneration(client, f"{config['CACHE_KEY_PREFIX']}:generation")
            self.store = RedisStore(client, self.ttl)
        else:
            self.generations = FileGeneration(Path(app.instance_path) / "cache-generation")
            self.store = MemoryStore(int(config["CACHE_MAX_MEGABYTES"]) * 1024 * 1024, self.ttl)

    def remembered(self, name: str, compute: Callable[[], T]) -> T:
        """A small value read from the database, kept in this process until the next write
        anywhere: exact as the cached pages are (it is computed after this request read the
        generation it is kept under). Computed every time when the cache is off or away."""
        generation = self.generation() if self.enabled else None
        if generation is None:
            return compute()
        held = self.memo.get(name)
        if held is not None and held[0] == generation:
            return cast(T, held[1])
        value = compute()
        self.memo[name] = (generation, value)
        return value

    def generation(self) -> int | None:
        """This request's generation, read once; None when the cache cannot be reached."""
        if "cache_generation" not in g:
            try:
                g.cache_generation = self.generations.read()
            except Exception:  # Redis away: serve uncached rather than fail
                log.warning("cache generation unreadable; serving uncached", exc_info=True)
                g.cache_generation = None
        return g.cache_generation

    def key(self, *parts: object) -> str | None:
        generation = self.generation() if self.enabled else None
        if generation is None:
            return None
        return ":".join([self.prefix, str(generation), *map(str, parts)])

    def etag(self, key: str) -> str:
        """A tag for what key names, changing every CACHE_TTL_SECONDS like the entries' life.

        (Not the key itself: a period in every key would expire all entries at one instant.)
        """
        period = int(time.time() // self.ttl)
        return hashlib.sha256(f"{key}:{period}".encode()).hexdigest()[:32]

    def get(self, key: str) -> Page | None:
        try:
            return self.store.get(key)
        except Exception:
            log.warning("cache unreadable", exc_info=True)
            return None

    def set(self, key: str, value: Page, size: int) -> None:
        """Keep value; size is about how many bytes it holds, for the bound in memory."""
        try:
            self.store.set(key, value, size)
        except Exception:
            log.warning("cache unwritable", exc_info=True)

    def bump(self) -> None:
        try:
            self.generations.bump()
        except Exception:
            # The entries expire after CACHE_TTL_SECONDS at the latest.
            log.error("cache generation not advanced after a write", exc_info=True)


@functools.cache
def code_version() -> str:
    """A digest of the code and templates, so a release never reads its predecessor's pages.

    Of the files' contents and places in the project, so every machine running one release
    agrees, wherever it is installed.
    """
    digest = hashlib.sha256()
    for folder in ("portal", "templates"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".html", ".txt", ".xml"):
                digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


# The settings that cached pages show; other settings differ from machine to machine (addresses,
# folders) and must not split a shared cache.
SHOWN_SETTINGS = ("SITE_NAME", "BASE_URL", "PREFERRED_URL_SCHEME", "SERVER_NAME")


def settings_version(config: Config) -> str:
    """A digest of the settings pages show, so a restart with another site name reads none of
    the pages made before it."""
    shown = [(name, repr(config.get(name))) for name in SHOWN_SETTINGS]
    return hashlib.sha256(repr(shown).encode()).hexdigest()[:12]


def _cache() -> Cache:
    cache: Cache = current_app.extensions[EXTENSION]
    return cache


def remembered(name: str, compute: Callable[[], T]) -> T:
    """Cache.remembered for this app: e.g. the private-portal setting every visitor's request
    reads, without a query per request."""
    return _cache().remembered(name, compute)


# --- Pages ---------------------------------------------------------------------------------


class CachedPage(Protocol[P]):
    """A view wrapped by cached_page, marked so the generation is read before its queries."""

    cached_page: bool

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue: ...


def cached_page(view: Callable[P, ResponseReturnValue]) -> CachedPage[P]:
    """A page kept whole, and answered with 304 when the browser has it already.

    The key covers all the page depends on: the generation, the URL, who is looking (for a
    signed-in person, their session's CSRF token too, since their forms carry it) and the expiry
    period. Anonymous visitors share one copy. Pages with a flash message, or whose rendering
    changed the session, are never kept or tagged.
    """

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        cache = _cache()
        # A flash, or a comment's draft kept while signing in (portal.intent), is this one
        # visitor's: such a page is made afresh.
        if "_flashes" in session or "comment_draft" in session:
            return view(*args, **kwargs)
        anonymous = not current_user.is_authenticated
        viewer = "anonymous" if anonymous else f"{current_user.id}:{session.get('csrf_token')}"
        key = cache.key("page", request.full_path, viewer)
        if key is None:
            return view(*args, **kwargs)
        etag = cache.etag(key)
        # Weakly, as RFC 9110 says for If-None-Match: a compressing proxy marks ETags weak.
        if request.if_none_match.contains_weak(etag):
            _count("not_modified")
            return _tagged(Response(status=304), etag, anonymous)
        kept = cache.get(key)
        if kept is not None:
            body, mimetype = kept
            response = Response(body, mimetype=mimetype)
            response.headers["X-Cache"] = "hit"
            _count("hit")
            return _tagged(response, etag, anonymous)
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code != 200 or session.modified or response.direct_passthrough:
            return response
        body = response.get_data()
        # A 200 made by Flask always has a media type; text/html is Response's own default.
        cache.set(key, (body, response.mimetype or "text/html"), size=len(body))
        response.headers["X-Cache"] = "miss"
        _count("miss")
        return _tagged(response, etag, anonymous)

    page = cast(CachedPage[P], wrapper)  # functools.wraps' type knows no extra attributes
    page.cached_page = True
    return page


PAGES = counter(
    "portal_cache_pages",
    "Cacheable pages answered: hit (kept), miss (rendered and kept), not_modified (304).",
    ("result",),
)


def _count(result: str) -> None:
    if current_app.config["METRICS_ENABLED"]:
        PAGES.labels(result).inc()


def _tagged(response: Response, etag: str, anonymous: bool) -> Response:
    response.set_etag(etag)
    # Browsers keep the page but ask each time; shared caches never keep a signed-in page.
    response.headers["Cache-Control"] = "no-cache" if anonymous else "private, no-cache"
    response.vary.add("Cookie")
    return response


# --- Noticing writes -----------------------------------------------------------------------


def _is_write(statement: str) -> bool:
    if _READS.match(statement):
        return False
    target = _TARGET.match(statement)
    return target is None or target[1].lower() not in UNSHOWN_TABLES


def _watch_engine(engine: Engine) -> None:
    if event.contains(engine, "before_cursor_execute", _note_write):
        return
    event.listen(engine, "before_cursor_execute", _note_write)


def _note_write(
    conn: Connection,
    _cursor: Any,  # the driver's cursor: a DB-API object SQLAlchemy does not type
    statement: str,
    _parameters: Any,
    _context: ExecutionContext | None,
    _executemany: bool,
) -> None:
    if not conn.info.get(_WROTE) and _is_write(statement):
        conn.info[_WROTE] = True


def _on_begin(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    connection.info.pop(_WROTE, None)
    session.info.setdefault("portal_cache_connections", []).append(connection)


def _on_commit(session: Session) -> None:
    connections = session.info.pop("portal_cache_connections", [])
    wrote = [c.info.pop(_WROTE, False) for c in connections]
    if any(wrote) and has_app_context() and EXTENSION in current_app.extensions:
        current_app.extensions[EXTENSION].bump()
        # What this context reads from now on (a command, a job, a POST that reads back) is
        # newer than the generation it had read.
        g.pop("cache_generation", None)


def _on_rollback(session: Session) -> None:
    for connection in session.info.pop("portal_cache_connections", []):
        connection.info.pop(_WROTE, None)


def _read_generation_first() -> None:
    """Before any query of this request: read the generation of a page that may be cached."""
    view = current_app.view_functions.get(request.endpoint or "")
    if request.method in ("GET", "HEAD") and getattr(view, "cached_page", False):
        _cache().generation()


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Cache(app)
    with app.app_context():
        _watch_engine(db.engine)
    if not event.contains(db.session, "after_commit", _on_commit):
        event.listen(db.session, "after_begin", _on_begin)
        event.listen(db.session, "after_commit", _on_commit)
        event.listen(db.session, "after_rollback", _on_rollback)
    # First of all before-request functions: a SQLite read transaction started before the
    # generation is read would be an older snapshot than the generation says.
    app.before_request_funcs.setdefault(None, []).insert(0, _read_generation_first)
