"""Operations: /healthz for load balancers, one JSON log line per request, Prometheus /metrics.

Every request is timed from the first before_request hook; after_request notes the response and
teardown_request, which also runs when a view raised, writes the log line and the metrics.
Metric objects live at module level: a process has one set however many apps it creates.

Under gunicorn each worker is a process with counters of its own. With the environment variable
PROMETHEUS_MULTIPROC_DIR set (see METRICS_ENABLED in portal/config.py and gunicorn.conf.py),
prometheus_client keeps every worker's values in files there and a scrape adds them all up.
"""

from __future__ import annotations

import atexit
import hmac
import json
import logging
import os
import queue
import random
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener
from types import TracebackType
from typing import TextIO, cast

from flask import Blueprint, Flask, Response, abort, current_app, g, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from redis import Redis, RedisError
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db, limiter
from portal.models import User

bp = Blueprint("observability", __name__)

request_log = logging.getLogger("portal.requests")

# An incoming X-Request-ID (from a proxy or load balancer) is kept only if it is short and
# harmless in a log or a header; anything else is replaced by one of ours.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# URL arguments that are credentials (password reset, email confirmation, signed email links):
# their value is replaced in the logged path. tests/test_observability.py checks that every
# rule argument whose name looks like a secret is listed here.
SECRET_URL_ARGUMENTS = frozenset({"token"})
REDACTED = "[redacted]"
URL_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?(?P<name>\w+)>")
# Long headers and paths are cut in the log; a line per request must stay a line.
MAX_LOGGED_TEXT = 512
# Methods outside this set are counted as "other", so junk methods add no label values.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds; web pages answer in milliseconds, and anything past 5 s is simply "too slow".
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CHECK_TIMEOUT_SECONDS = 1
# How often the request log's writer thread looks for lines to write: a line reaches stderr at
# most this late (and every line is written at exit).
WRITE_INTERVAL_SECONDS = 0.05

_counters: dict[str, tuple[Counter, tuple[str, ...]]] = {}


def counter(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
    """A Prometheus counter, defined once per process however often this is called.

    Call it at module level (`HITS = counter("portal_cache_hits", "...", ("cache",))`). It works
    alike in one process and under gunicorn's multiprocess mode, because prometheus_client picks
    its storage from PROMETHEUS_MULTIPROC_DIR, which is set before the app is imported.
    """
    if name not in _counters:
        _counters[name] = (Counter(name, documentation, labels), tuple(labels))
    existing, existing_labels = _counters[name]
    if existing_labels != tuple(labels):
        raise ValueError(f"counter {name} already exists with labels {existing_labels}")
    return existing


REQUESTS = counter("portal_requests", "HTTP requests answered.", ("method", "route", "status"))
REQUEST_DURATION = Histogram(
    "portal_request_duration_seconds",
    "Time from the first request hook to the end of the request.",
    ("method", "route"),
    buckets=DURATION_BUCKETS,
)


def init_app(app: Flask) -> None:
    """Register the routes and hooks; call it before any other hook is registered.

    Flask runs before_request hooks in order and after_request and teardown hooks in reverse,
    so hooks registered first time the whole request (the rate limiter's 429 included) and see
    the response as it finally leaves.
    """
    if app.config["REQUEST_LOG"] not in ("json", "off"):
        raise ValueError(f"REQUEST_LOG must be 'json' or 'off', not {app.config['REQUEST_LOG']!r}")
    if app.config["REQUEST_LOG"] == "json":
        _log_to_stderr()
    app.before_request(_start_request)
    app.after_request(_note_response)
    app.teardown_request(_finish_request)
    app.register_blueprint(bp)
    # Flask's own line for a crash names the raw path, a reset link's token included.
    # Flask has no other hook for that line; Flask subclasses are create_app's business.
    app.log_exception = _log_exception  # type: ignore[method-assign]  # an instance override


def _log_exception(
    exc_info: tuple[type, BaseException, TracebackType] | tuple[None, None, None],
) -> None:
    current_app.logger.error(
        "Exception on %s [%s]", _logged_path(), request.method, exc_info=exc_info
    )


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr was when the line was logged: pytest, for one, replaces it
    for each test, and a line written later by the writer thread still belongs to that test."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    def handle(self, record: logging.LogRecord) -> bool:
        self.acquire()  # one writer thread per process: never waited on
        try:
            self._stream = getattr(record, "stderr", None) or sys.stderr
            return super().handle(record)
        finally:
            self.release()

    @property
    def stream(self) -> TextIO:
        return getattr(self, "_stream", None) or sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """Ignored: StreamHandler.__init__ assigns one, and this handler looks it up each time."""


class _PollingListener(QueueListener):
    """A QueueListener that looks for lines every WRITE_INTERVAL_SECONDS instead of waiting.

    Waiting on the queue meant every line put woke the writer thread at once, and it then
    asked the request's thread for the GIL: on a busy machine that handover cost a request
    milliseconds (a profile put it all in the queue's put). Polling, a request's put wakes
    nobody; the writer takes what has come in a few times a second.
    """

    def dequeue(self, block: bool) -> logging.LogRecord:
        lines = cast("queue.SimpleQueue[logging.LogRecord]", self.queue)  # the one it was given
        while True:
            try:
                return lines.get_nowait()
            except queue.Empty:
                if not block:
                    raise
                time.sleep(WRITE_INTERVAL_SECONDS)


class _BackgroundHandler(QueueHandler):
    """Hands each line to a thread that writes it, so a request never waits on stderr.

    Writing under the stream's lock made every request queue behind a slow or full pipe (a
    busy terminal, a log shipper that stalls) and behind each other. The thread is started by
    the first line a process logs, so each gunicorn worker, forked after the app was built
    (with --preload too), starts its own, and a thread the master might have had is not
    counted on, since threads do not survive a fork. At exit the thread writes what is queued
    before the process ends.
    """

    def __init__(self) -> None:
        super().__init__(queue.SimpleQueue())
        self._starting = threading.Lock()
        self._listener: _PollingListener | None = None
        self._pid: int | None = None

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        prepared = super().prepare(record)
        prepared.stderr = sys.stderr  # where the line goes, as when lines were written at once
        return prepared

    def emit(self, record: logging.LogRecord) -> None:
        if self._pid != os.getpid():
            self._start()
        super().emit(record)

    def _start(self) -> None:
        with self._starting:
            if self._pid == os.getpid():
                return
            # A new queue: lines the parent had queued before a fork are the parent's to write.
            self.queue = queue.SimpleQueue()
            self._listener = _PollingListener(self.queue, _StderrHandler())
            self._listener.start()
            self._pid = os.getpid()

    def flush(self) -> None:
        """Write every line queued so far, then go on in a new thread (at exit: the last)."""
        with self._starting:
            if self._listener is not None and self._pid == os.getpid():
                self._listener.stop()  # writes what is queued, then ends its thread
                self._listener, self._pid = None, None


_background_handler = _BackgroundHandler()
atexit.register(_background_handler.flush)


def _log_to_stderr() -> None:
    """Send the request log to stderr, unless logging was configured for it already."""
    request_log.setLevel(logging.INFO)
    if not request_log.handlers:
        request_log.addHandler(_background_handler)
        request_log.propagate = False  # a root handler, if any, would print each line twice


# --- Per-request hooks -----------------------------------------------------------------------


@dataclass
class _Observed:
    """What the hooks learn about one request, kept in g between them."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    status: int = 500  # stays so when a view raised and no response was made
    bytes: int | None = None


def _start_request() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.observed = _Observed(incoming if REQUEST_ID.fullmatch(incoming) else _new_request_id())


def _new_request_id() -> str:
    """32 random hex digits, as uuid4().hex gave, without a system call for random bytes.

    The id only ties a log line to a response; nobody is meant not to guess it, so Python's
    generator (seeded afresh in each forked worker) serves, where uuid4 read os.urandom on
    every request (the largest single cost before a cached page, in a profile).
    """
    return f"{random.getrandbits(128):032x}"


def _note_response(response: Response) -> Response:
    observed = g.get("observed")
    if observed is not None:
        observed.status, observed.bytes = response.status_code, response.content_length
        response.headers["X-Request-ID"] = observed.request_id
    return response


def _finish_request(exc: BaseException | None) -> None:
    """Log and count the request once, also when the view raised and no response was noted.

    Request contexts that were never dispatched (test_request_context(), url building in a
    command) ran no before_request hook and are neither logged nor counted.
    """
    observed = g.pop("observed", None)
    if observed is None:
        return
    seconds = time.perf_counter() - observed.started
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    config = current_app.config
    if config["METRICS_ENABLED"]:
        method = request.method if request.method in KNOWN_METHODS else "other"
        REQUESTS.labels(method, route, str(observed.status)).inc()
        REQUEST_DURATION.labels(method, route).observe(seconds)
    if config["REQUEST_LOG"] == "json":
        _log_request(observed, route, seconds, exc)


def _log_request(
    observed: _Observed, route: str, seconds: float, exc: BaseException | None
) -> None:
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "error" if observed.status >= 500 else "info",
        "request_id": observed.request_id,
        "method": _clip(request.method),
        "route": route,
        "path": _clip(_logged_path()),
        "status": observed.status,
        "duration_ms": round(seconds * 1000, 2),
        "bytes": observed.bytes,
        "user_id": _signed_in_user_id(),
        "remote_addr": request.remote_addr,
        "user_agent": _clip(request.headers.get("User-Agent")),
    }
    if exc is not None:
        entry["error"] = type(exc).__name__  # the type only: messages can carry data
    request_log.log(logging.ERROR if observed.status >= 500 else logging.INFO, json.dumps(entry))


def _logged_path() -> str:
    """The path, with credentials in it (a reset link's token) replaced; never the query."""
    rule = request.url_rule
    if rule is None or not SECRET_URL_ARGUMENTS & rule.arguments:
        return request.path
    values = request.view_args or {}

    def value(match: re.Match[str]) -> str:
        name = match["name"]
        return REDACTED if name in SECRET_URL_ARGUMENTS else str(values.get(name, ""))

    return URL_ARGUMENT.sub(value, rule.rule)


def _signed_in_user_id() -> int | None:
    """Who was signed in, if the request looked; never a database query of its own.

    Flask-Login keeps the person it loaded in g._login_user. Loading them here would add a query
    to requests that need none (/healthz, static files) and fail when the database has failed;
    the id comes from the identity map, so an object expired by a commit is not refreshed.
    """
    user = g.get("_login_user")
    if not isinstance(user, User):
        return None
    identity: tuple[int] | None = sa_inspect(user).identity  # (users.id,)
    return identity[0] if identity else None


def _clip(value: str | None) -> str | None:
    return value[:MAX_LOGGED_TEXT] if value is not None else None


# --- /healthz --------------------------------------------------------------------------------


@bp.get("/healthz")
@limiter.exempt
def healthz() -> Response:
    """For load balancers: 200 when the database (and Redis, if configured) answer, else 503.

    Needs no sign-in and touches no session, so it sets no cookie. A failure is named by its
    exception type only: messages can hold host names or connection strings.
    """
    checks = {"database": _check_database(), "redis": _check_redis()}
    healthy = all(result in ("ok", "not configured") for result in checks.values())
    response = jsonify(status="ok" if healthy else "unavailable", **checks)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def _check_database() -> str:
    """SELECT 1 on a connection of its own, handed back to the pool (rolled back) at once.

    A server that is down fails at once; one that does not answer gives up after
    DATABASE_CONNECT_TIMEOUT_SECONDS (PostgreSQL's connect_timeout, set in portal/config.py).
    """
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return f"failed: {type(exc).__name__}"
    return "ok"


def _check_redis() -> str:
    url = current_app.config["REDIS_URL"]
    if not url:
        return "not configured"
    client = Redis.from_url(
        url,
        socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
        socket_timeout=CHECK_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0),  # one try: the load balancer asks again soon enough
    )
    try:
        client.ping()
    except RedisError as exc:
        return f"failed: {type(exc).__name__}"
    finally:
        client.close()
    return "ok"


# --- /metrics --------------------------------------------------------------------------------


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus's text format; a 404 while METRICS_ENABLED is off, like any unknown page."""
    config = current_app.config
    if not config["METRICS_ENABLED"]:
        abort(404)
    token = config["METRICS_TOKEN"]
    if token and not _bearer_token_is(str(token)):
        return Response(
            "A bearer token is required.\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"},
            mimetype="text/plain",
        )
    return Response(
        _exposition(), content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
    )


def _bearer_token_is(expected: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), expected.encode()
    )


def _exposition() -> bytes:
    """This process's metrics, or with PROMETHEUS_MULTIPROC_DIR every worker's, added up.

    In multiprocess mode the process collectors (memory, CPU, open files) are left out: they
    would describe only the one worker that happened to answer.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
