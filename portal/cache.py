"""A server-side cache with exact invalidation, and HTTP caching (ETag and 304) for pages.

Exactness comes from numbers read before a request's first query and advanced after each
commit, before the response that made the write is sent:
- the *generation*, which any committed write to a table a page shows advances;
- one number per *tag*, for writes known to reach less: a vote, a comment or a follow on one
  idea (touching()) advances only that idea's tag and "lists", if it wrote nothing but the
  tables of an idea's activity; anything else written inside it advances the generation.
Every key holds the generation and the numbers of the tags its page shows (cached(tags=...)),
so an entry made before a write it shows is never read after it, and an idea's page stays kept
while people vote on other ideas. Writing, then reading the page: the count is already the new
one, on every worker and every server.

What is cached: the pages marked `@cached_page` or `@cached(...)`. Anonymous visitors share one
copy of each page. For someone signed in the page is kept with gaps for what is theirs alone
(portal.personal: name, unread count, CSRF token, their votes), filled in on each request; with
shared=True one copy serves everyone of the same role who sees the same boards. What fills the
gaps is kept per person under the numbers that change it (per_person), and who is signed in
with which session under the number of "accounts" (signed_in_person), so a signed-in page the
cache holds is served without a query. A browser that has the page already gets 304.

Where things live (the classes are in portal/cache_backends.py):
- With REDIS_URL: the numbers and the entries are in Redis, shared by every worker of every
  app server.
- Without: entries are in each worker's memory (a bounded LRU), and the numbers are in a
  memory-mapped file in instance/, shared by the workers of this machine. Several app servers
  on several machines need Redis (docs/deploying.md).

Entries also expire after CACHE_TTL_SECONDS, which bounds what the clock alone changes on a
page: an answer from the team that falls overdue is marked so at most that late.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from flask import (
    Config,
    Flask,
    Response,
    current_app,
    g,
    has_app_context,
    has_request_context,
    request,
    session,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection, Engine, ExecutionContext
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached

from portal import personal, visibility
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
from portal.models import User
from portal.models.types import utcnow
from portal.observability import counter
from portal.permissions import is_verified
from portal.services import sessions
from portal.visibility import visible_board_ids

log = logging.getLogger(__name__)

EXTENSION = "portal_cache"
ROOT = Path(__file__).resolve().parent.parent

# Statements that change nothing a page shows. Anything else that is not a read counts as a
# write: a new kind of statement costs cache hits, never correctness.
_READS = re.compile(r"\s*(SELECT|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|PRAGMA|SHOW|SET)\b", re.I)
_TARGET = re.compile(r"\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.I)
# The email outbox, webhook deliveries, sign-in sessions and API keys' last use appear on no
# cached page; the delivery thread, sign-ins and API calls would otherwise empty the cache for
# nothing.
UNSHOWN_TABLES = frozenset(
    {
        "api_keys",
        "outbox",
        "recovery_codes",
        "remembered_devices",
        "user_sessions",
        "webhook_attempts",
        "webhook_deliveries",
        "webhook_endpoints",
    }
)
_WROTE = "portal_cache_wrote"
# The tag of who is signed in with which session: advanced by writes to these tables.
ACCOUNTS = "accounts"
ACCOUNT_TABLES = frozenset({"users", "user_sessions"})
_TOUCHING = "portal_cache_touching"
MEMO_SIZE = 20_000
# How long a request waits for another thread rendering the same page before rendering it too.
RENDER_WAIT_SECONDS = 5.0

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
        self._rendering: dict[str, threading.Lock] = {}
        # signed_in_person(): session key -> (ACCOUNTS number, the person, session's end).
        self.people: dict[str, tuple[int, User, datetime]] = {}
        # per_person(): name -> (the numbers it was computed at, the value).
        self.personal: dict[str, tuple[tuple[int, ...], Any]] = {}
        self._locks_lock = threading.Lock()
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
        if len(self.memo) >= MEMO_SIZE:  # one value a person at most: bounded all the same
            self.memo.clear()
        self.memo[name] = (generation, value)
        return value

    def generation(self) -> int | None:
        """This request's generation, read once; None when the cache cannot be reached."""
        self._read(())
        return cast(int | None, g.cache_generation)

    def _read(self, tags: tuple[str, ...]) -> list[int] | None:
        """This request's generation and these tags' numbers, each read once a request, all
        in one round trip. None when the cache cannot be reached."""
        known: dict[str, int] = g.setdefault("cache_tags", {})
        wanted = [t for t in tags if t not in known]
        if "cache_generation" not in g or wanted:
            try:
                generation, numbers = self.generations.read_tags(wanted)
            except Exception:  # Redis away: serve uncached rather than fail
                log.warning("cache generation unreadable; serving uncached", exc_info=True)
                g.cache_generation = None
                return None
            # The generation first read stays this request's (a later read may be newer than
            # what the request has read from the database meanwhile: never older).
            if "cache_generation" not in g:
                g.cache_generation = generation
            known.update(zip(wanted, numbers, strict=True))
        if g.cache_generation is None:
            return None
        return [known[t] for t in tags]

    def key(self, *parts: object, tags: tuple[str, ...] = ()) -> str | None:
        numbers = self._read(tags) if self.enabled else None
        if numbers is None:
            return None
        shown = ",".join(f"{t}={n}" for t, n in zip(tags, numbers, strict=True))
        return ":".join([self.prefix, str(g.cache_generation), shown, *map(str, parts)])

    def etag(self, key: str, extra: str = "") -> str:
        """A tag for what key names, changing every CACHE_TTL_SECONDS like the entries' life.

        (Not the key itself: a period in every key would expire all entries at one instant.)
        """
        period = int(time.time() // self.ttl)
        return hashlib.sha256(f"{key}:{period}:{extra}".encode()).hexdigest()[:32]

    @contextlib.contextmanager
    def rendering(self, key: str) -> Iterator[None]:
        """One thread of this process renders a page at a time; the others wait for it and
        then find it kept. After a write, the threads that ask for the page at once would
        otherwise each render it, all but one for nothing."""
        with self._locks_lock:
            lock = self._rendering.get(key)
            if lock is None:
                lock = self._rendering[key] = threading.Lock()
        acquired = lock.acquire(timeout=RENDER_WAIT_SECONDS)
        try:
            yield
        finally:
            if acquired:
                lock.release()
            with self._locks_lock:
                if self._rendering.get(key) is lock and not lock.locked():
                    del self._rendering[key]

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

    def bump(self, tags: tuple[str, ...] = ()) -> None:
        """Advance the generation (every page made afresh), or only these tags' numbers."""
        try:
            self.generations.bump_tags(tags)
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


def audience(user: Any, *, shared: bool, personal_args: tuple[str, ...] = ()) -> str:
    """Whose copy of a page a signed-in person is served: with shared, everyone's of the same
    role who sees the same boards (the page shows nothing else of them but its gaps); else their
    own. Someone yet to confirm their address, or filtering by what is theirs (any of the
    page's personal_args set to 1, as "Mine"), has their own."""
    if not shared or not is_verified(user):
        return f"person={user.id}"
    if any(request.args.get(name) == "1" for name in personal_args):
        return f"person={user.id}"
    boards = visible_board_ids(user)  # kept until the next write anywhere (remembered)
    seen = "all" if boards is None else ",".join(map(str, sorted(boards)))
    return f"role={user.role}:boards={seen}"


# --- Pages ---------------------------------------------------------------------------------

# The tags a page shows, from its view's arguments: by default "lists", which every write to an
# idea's votes, comments or counts advances (see touching()).
Tags = Callable[..., Iterable[str]]
LISTS: tuple[str, ...] = ("lists",)


def idea_tag(idea_id: int) -> str:
    return f"idea:{idea_id}"


class CachedPage(Protocol[P]):
    """A view wrapped by cached_page, marked so the generation is read before its queries."""

    cached_page: bool
    cache_tags: Tags

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue: ...


def cached(
    *, tags: Tags = lambda **_: LISTS, shared: bool = False, personal_args: tuple[str, ...] = ()
) -> Callable[[Callable[P, ResponseReturnValue]], CachedPage[P]]:
    """A page kept, and answered with 304 when the browser has it already.

    The key covers all the page depends on: the generation, the numbers of the tags the page
    shows (tags(**view_args)), the URL and who is looking. Anonymous visitors share one copy.
    For someone signed in the page is kept with gaps for what is theirs alone (portal.personal:
    their name, unread count, CSRF token, which ideas they voted for), filled in on each
    request; with shared=True, one copy serves everyone of the same role who sees the same
    boards, otherwise each person has their own, as when a filter of theirs is on (a query
    parameter of personal_args set to 1). Pages with a flash message, or whose rendering
    changed the session, are never kept or tagged.
    """

    def decorate(view: Callable[P, ResponseReturnValue]) -> CachedPage[P]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            return _serve(view, args, kwargs, tags, shared, personal_args)

        page = cast(CachedPage[P], wrapper)  # functools.wraps' type knows no extra attributes
        page.cached_page = True
        page.cache_tags = tags
        return page

    return decorate


cached_page = cached()


def _serve(
    view: Callable[..., ResponseReturnValue],
    args: Any,
    kwargs: Any,
    tags: Tags,
    shared: bool,
    personal_args: tuple[str, ...],
) -> ResponseReturnValue:
    cache = _cache()
    # A flash, or a comment's draft kept while signing in (portal.intent), is this one
    # visitor's: such a page is made afresh.
    if "_flashes" in session or "comment_draft" in session:
        return view(*args, **kwargs)
    anonymous = not current_user.is_authenticated
    viewer = (
        "anonymous"
        if anonymous
        else audience(current_user, shared=shared, personal_args=personal_args)
    )
    key = cache.key(
        "page", request.full_path, viewer, tags=tuple(tags(**(request.view_args or {})))
    )
    if key is None:
        return view(*args, **kwargs)
    if anonymous:
        return _serve_anonymous(cache, key, view, args, kwargs)
    return _serve_signed_in(cache, key, view, args, kwargs)


def _serve_anonymous(
    cache: Cache, key: str, view: Callable[..., ResponseReturnValue], args: Any, kwargs: Any
) -> ResponseReturnValue:
    etag = cache.etag(key)
    # Weakly, as RFC 9110 says for If-None-Match: a compressing proxy marks ETags weak.
    if request.if_none_match.contains_weak(etag):
        _count("not_modified")
        return _tagged(Response(status=304), etag, anonymous=True)
    kept = cache.get(key)
    if kept is None:
        with cache.rendering(key):  # one thread renders a page at a time; the others wait
            kept = cache.get(key)
            if kept is None:
                response = current_app.make_response(view(*args, **kwargs))
                if response.status_code != 200 or session.modified or response.direct_passthrough:
                    return response
                body = response.get_data()
                # A 200 made by Flask always has a media type; text/html is its own default.
                cache.set(key, (body, response.mimetype or "text/html"), size=len(body))
                response.headers["X-Cache"] = "miss"
                _count("miss")
                return _tagged(response, etag, anonymous=True)
    body, mimetype = kept
    response = Response(body, mimetype=mimetype)
    response.headers["X-Cache"] = "hit"
    _count("hit")
    return _tagged(response, etag, anonymous=True)


def _serve_signed_in(
    cache: Cache, key: str, view: Callable[..., ResponseReturnValue], args: Any, kwargs: Any
) -> ResponseReturnValue:
    kept = cache.get(key)
    result = "hit"
    if kept is None:
        with cache.rendering(key):
            kept = cache.get(key)
            if kept is None:
                with personal.gaps() as gaps:
                    response = current_app.make_response(view(*args, **kwargs))
                if response.status_code != 200 or session.modified or response.direct_passthrough:
                    # Not kept: its gaps (whatever its status) are filled at once, for this person.
                    if not response.direct_passthrough:
                        response.set_data(personal.fill(gaps.kept(response.get_data()))[0])
                    return response
                kept = (gaps.kept(response.get_data()), response.mimetype or "text/html")
                cache.set(key, kept, size=len(kept[0]))
                result = "miss"
    stored, mimetype = kept
    body, theirs = personal.fill(stored)
    # The tag covers what is theirs too: their votes, their unread count, their session.
    etag = cache.etag(key, theirs)
    if request.if_none_match.contains_weak(etag):
        _count("not_modified")
        return _tagged(Response(status=304), etag, anonymous=False)
    response = Response(body, mimetype=mimetype)
    response.headers["X-Cache"] = result
    _count(result)
    return _tagged(response, etag, anonymous=False)


PAGES = counter(
    "portal_cache_pages",
    "Cacheable pages answered: hit (kept), miss (rendered and kept), not_modified (304).",
    ("result",),
)


def _count(result: str) -> None:
    if current_app.config["METRICS_ENABLED"]:
        PAGES.labels(result).inc()


def _tagged(response: Response, etag: str, *, anonymous: bool) -> Response:
    response.set_etag(etag)
    # Browsers keep the page but ask each time; shared caches never keep a signed-in page.
    response.headers["Cache-Control"] = "no-cache" if anonymous else "private, no-cache"
    response.vary.add("Cookie")
    return response


# --- Noticing writes -----------------------------------------------------------------------


def _written_table(statement: str) -> str | None:
    """The table a statement writes to ("" for a write of unknown reach), or None for a read."""
    if _READS.match(statement):
        return None
    target = _TARGET.match(statement)
    return "" if target is None else target[1].lower()


def _is_write(statement: str) -> bool:
    """Whether a statement changes something a page shows."""
    table = _written_table(statement)
    return table is not None and table not in UNSHOWN_TABLES


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
    table = _written_table(statement)
    if table is not None:
        conn.info.setdefault(_WROTE, set()).add(table)


@dataclass(frozen=True)
class Touching:
    """Writes that reach only these tables show only on the pages of these tags."""

    tags: tuple[str, ...]
    tables: frozenset[str]


# A vote or a comment on one idea: its page, the lists (counts, order), nothing else. Their
# notifications are shown nowhere the cache keeps (the unread count is filled in per request).
IDEA_ACTIVITY_TABLES = frozenset(
    {"votes", "follows", "ideas", "idea_organisations", "comments", "notifications", "mentions"}
)


@contextlib.contextmanager
def touching(idea_id: int) -> Iterator[None]:
    """What is committed inside reaches only this idea's page and the lists, if it writes only
    to the tables of an idea's activity (its votes, follows, comments and counts); any other
    write starts a new generation as always. The vote and comment views wrap their writes in
    this, so that a vote does not make every idea's page afresh."""
    previous = g.get(_TOUCHING)
    # The person acting: their own votes, kept by per_person(), change with theirs.
    theirs = (f"voter:{current_user.id}",) if current_user.is_authenticated else ()
    setattr(g, _TOUCHING, Touching((idea_tag(idea_id), *LISTS, *theirs), IDEA_ACTIVITY_TABLES))
    try:
        yield
    finally:
        setattr(g, _TOUCHING, previous)


def _on_begin(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    connection.info.pop(_WROTE, None)
    session.info.setdefault("portal_cache_connections", []).append(connection)


def _on_commit(session: Session) -> None:
    connections = session.info.pop("portal_cache_connections", [])
    tables: set[str] = set().union(*(c.info.pop(_WROTE, set()) for c in connections))
    if not (tables and has_app_context() and EXTENSION in current_app.extensions):
        return
    cache: Cache = current_app.extensions[EXTENSION]
    if tables & ACCOUNT_TABLES or "" in tables:
        # Who is signed in with which session is looked up afresh, by every process.
        cache.bump((ACCOUNTS,))
    if "notifications" in tables:
        cache.bump(("notifications",))  # everyone's unread count (per_person)
    written = tables - UNSHOWN_TABLES
    if written:
        scope = g.get(_TOUCHING) if has_request_context() else None
        narrow = scope.tags if isinstance(scope, Touching) and written <= scope.tables else ()
        cache.bump(narrow)
    # What this context reads from now on (a command, a job, a POST that reads back) is
    # newer than the numbers it had read.
    g.pop("cache_generation", None)
    g.pop("cache_tags", None)
    g.pop("portal_accounts_number", None)


def _on_rollback(session: Session) -> None:
    for connection in session.info.pop("portal_cache_connections", []):
        connection.info.pop(_WROTE, None)


def _read_generation_first() -> None:
    """Before any query of this request: read the generation, and the numbers of the tags, of
    a page that may be cached, and the number of the signed-in accounts when a session cookie
    is sent (signed_in_person), all in one round trip."""
    cache = _cache()
    if not cache.enabled:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    tags: tuple[str, ...] = ()
    if request.method in ("GET", "HEAD") and getattr(view, "cached_page", False):
        shown: Tags = getattr(view, "cache_tags", lambda **_: LISTS)
        tags = tuple(shown(**(request.view_args or {})))
    signed_in = current_app.config["SESSION_COOKIE_NAME"] in request.cookies
    if signed_in:
        tags = (ACCOUNTS, *tags)
    numbers = cache._read(tags) if tags else None
    if signed_in and numbers is not None:
        g.portal_accounts_number = numbers[0]


def signed_in_person(key: str | None) -> User | None:
    """Flask-Login's loader: the person signed in with this session key, or None.

    Without a query while nobody's account or session has changed anywhere: each process keeps
    who each session key belongs to, under the number of ACCOUNTS read before this request's
    first query, which every committed write to users or sessions advances (a sign-out, a
    suspension, a new role or password, a new session), for every process and server."""
    cache = _cache()
    number = g.get("portal_accounts_number")
    if not key or number is None:
        return sessions.user_for_session(key)
    held = cache.people.get(key)
    if held is not None and held[0] == number and held[2] > utcnow():
        person = db.session.identity_map.get(sa_inspect(held[1]).key)
        if not isinstance(person, User):
            # A copy of its own for this request's session (the kept one is never attached):
            # as loaded, with nothing to write back.
            person = _detached_copy(held[1])
            db.session.add(person)
        person.session_key = key
        return person
    found = sessions.session_of(key)
    if found is None:
        return None
    user, expires_at = found
    if len(cache.people) >= MEMO_SIZE:
        cache.people.clear()
    cache.people[key] = (number, _detached_copy(user), expires_at)
    return user


def per_person(name: str, tags: tuple[str, ...], compute: Callable[[], T]) -> T:
    """One person's value (their unread count, their votes), kept in this process under the
    generation and the numbers of the tags whose writes change it: no query while nothing of it
    changed (portal.personal).

    The numbers are read before the value's query, with no database transaction open yet in
    this request: a snapshot begun earlier could be older than the numbers say, so then the
    value is only computed."""
    cache = _cache()
    generation = g.get("cache_generation") if cache.enabled else None
    if generation is None or db.session.info.get("portal_cache_connections"):
        return compute()
    try:
        _, numbers = cache.generations.read_tags(tags)
    except Exception:
        log.warning("cache numbers unreadable; computing", exc_info=True)
        return compute()
    stamp = (generation, *numbers)
    held = cache.personal.get(name)
    if held is not None and held[0] == stamp:
        return cast(T, held[1])
    value = compute()
    if len(cache.personal) >= MEMO_SIZE:
        cache.personal.clear()
    cache.personal[name] = (stamp, value)
    return value


personal.remember = per_person
visibility.remember = remembered


def _detached_copy(user: User) -> User:
    """A copy of the person's columns, belonging to no session, as if loaded."""
    copy = User(**{a.key: getattr(user, a.key) for a in sa_inspect(User).column_attrs})
    make_transient_to_detached(copy)
    return copy


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
