"""Configuration: defaults, then instance/config.py, then PORTAL_* variables and DATABASE_URL."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import make_url

from portal import limit_storage

# Where links point when nobody says: the address `flask run` serves on by default.
FALLBACK_BASE_URL = "http://127.0.0.1:5000"


class Defaults:
    # Where links in emails and feeds point: the address people open, set in production
    # (PORTAL_BASE_URL). Never taken from a request's Host header, which anyone can forge
    # (a reset link on an attacker's host). Unset, links follow the address this server
    # listens on, which ./gunicorn.conf.py passes as PORTAL_SERVED_AT (SERVED_AT here), or
    # else FALLBACK_BASE_URL; a server then warns at start-up (base_url_warning()).
    BASE_URL: str | None = None
    SERVED_AT: str | None = None
    SITE_NAME = "Idea Portal"

    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    SQLITE_BUSY_TIMEOUT_MS = 15_000
    # PostgreSQL: give up connecting after this long (libpq would wait for ever), so a database
    # that does not answer fails requests and /healthz quickly. A connect_timeout in the URL wins.
    DATABASE_CONNECT_TIMEOUT_SECONDS = 5

    # Request bodies: ideas and comments are text, so 1 MiB is generous.
    MAX_CONTENT_LENGTH = 1024 * 1024
    MAX_FORM_MEMORY_SIZE = 1024 * 1024

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session; forms left open still work

    SESSION_COOKIE_NAME = "portal_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # None means "when BASE_URL is https"; set True or False to decide yourself.
    SESSION_COOKIE_SECURE: bool | None = None
    REMEMBER_COOKIE_SECURE: bool | None = None
    REMEMBER_COOKIE_NAME = "portal_remember"
    REMEMBER_COOKIE_DURATION = timedelta(days=30)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # A browser-session sign-in stays valid on the server for this long at most.
    SESSION_LIFETIME = timedelta(days=7)
    # Two-factor sign-in (portal.services.two_factor): the time between a right password and
    # the code, and how long "remember this device" skips the code on one browser.
    TWO_FACTOR_PENDING_MAX_AGE = timedelta(minutes=10)
    TWO_FACTOR_DEVICE_COOKIE_NAME = "portal_device"
    TWO_FACTOR_DEVICE_DURATION = timedelta(days=30)

    # argon2id, OWASP's minimum (m=19 MiB, t=2, p=1); raise, never lower.
    ARGON2_TIME_COST = 2
    ARGON2_MEMORY_COST = 19_456
    ARGON2_PARALLELISM = 1

    PASSWORD_MIN_LENGTH = 8
    PASSWORD_MAX_LENGTH = 256
    PASSWORD_RESET_MAX_AGE = timedelta(hours=1)
    EMAIL_VERIFY_MAX_AGE = timedelta(days=3)

    # Rate limits (Flask-Limiter syntax), counted once for the whole site: in Redis when
    # REDIS_URL is set (every machine), otherwise in instance/rate-limits.sqlite3 (every worker
    # of this machine; portal/limit_storage.py). memory:// counts in each worker on its own.
    RATELIMIT_ENABLED = True
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_STORAGE_URI: str | None = None
    # Where several sites share one Redis, each names its counters with its own prefix. It goes
    # to the limit storage of each app (portal.limits.init_app), not to Flask-Limiter's own.
    RATELIMIT_KEY_PREFIX = "portal"
    # RATELIMIT_FAIL_ON_FIRST_BREACH is not a setting: the limiter checks every limit of a
    # route, so Retry-After names the longest wait (portal.extensions).
    #
    # Every default is set so that normal use never meets it and abuse still does. A limit per
    # address is shared by everyone behind it (an office NAT, a school, a mobile carrier), so
    # limits per address are generous and only stop scripts; the limits that stop abuse are per
    # person (accounts need a confirmed email first) and by content (links, repeated text).
    # Fixed windows, each begun by the first hit it counts: "6/minute" lets six through at once,
    # then asks to wait for the rest of that minute (the page and Retry-After say how long).
    #
    # Failed sign-ins only (a successful one costs nothing). An office signing in on launch
    # morning fails a few times a minute at most; were seven to mistype in one minute, the
    # seventh waits under a minute and is told so. A script trying passwords over many
    # accounts from one address is held to 100 an hour.
    LIMIT_SIGN_IN_PER_IP = "6/minute;100/hour"
    # Nobody mistypes their own password ten times in an hour (they reset it sooner); guessing
    # one account's password is held to 10 tries an hour.
    LIMIT_SIGN_IN_PER_ACCOUNT = "10/hour"
    # Wrong two-factor codes (sign-in, setup, turning it off), counted on failures only. A
    # person fumbling their phone's clock mistypes a few; a six-digit code guessed at 10 an
    # hour would take decades. From one address, an office's worth of fumbling.
    LIMIT_TWO_FACTOR_PER_ACCOUNT = "5/15minutes;10/hour"
    LIMIT_TWO_FACTOR_PER_IP = "10/minute;50/hour"
    # Accounts made (and confirmation emails sent) from one address. A whole office signing up
    # on launch day behind one NAT: a room of 20 at once, dozens in the hour, up to 200 in the
    # day. A script making accounts is stopped at 60 an hour, and each account still needs its
    # email confirmed before it can post, and is then held by the new-account limits below.
    LIMIT_SIGN_UP_PER_IP = "20/minute;60/hour;200/day"
    # "Send the confirmation again" and "forgot password" from one address: an office where a
    # few people a minute lose their link or password never meets it; mail-bombing someone's
    # inbox through the portal is held to 20 messages an hour.
    LIMIT_EMAIL_PER_IP = "5/minute;20/hour;50/day"
    # Single sign-on round trips and identify links from one address: an office signing in at
    # once through its provider stays far below; a script replaying links is held.
    LIMIT_SSO_PER_IP = "30/minute;300/hour"
    # Per person; the team is exempt. Writing an idea (title, problem, the "is it one of these?"
    # step) takes more than 15 seconds, and a customer emptying a workshop's list posts a dozen
    # or so in a day; a flood is stopped at once.
    LIMIT_IDEAS = "1/15seconds;30/day"
    # A new customer (first NEW_ACCOUNT_PERIOD) bringing their backlog on launch day posts a few
    # ideas in a row and under ten in the day; a throwaway spam account gets 10 and no more.
    LIMIT_IDEAS_NEW_ACCOUNT = "1/30seconds;10/day"
    # A lively thread: short replies ("Same here", "Thanks!") a few seconds apart, several in a
    # minute, never 10; a script posting on every idea is stopped within a minute.
    LIMIT_COMMENTS = "10/minute;200/day"
    # New accounts: replying every ~4 s a few times in a lively thread passes (6 in any minute);
    # 50 in a first day is more than any genuine newcomer writes, and less than a spam run needs.
    LIMIT_COMMENTS_NEW_ACCOUNT = "6/minute;50/day"
    # Going through the list on a first visit and voting for everything that matters: well
    # under 30 a minute and 200 a day. Withdrawing costs nothing. Scripted vote churn (vote,
    # withdraw, vote again to lift trending) is stopped at 30 a minute.
    LIMIT_VOTES = "30/minute;200/day"
    # Every API request, per person (or per address without a key), on top of the limits of
    # what it does: a sync script reading the whole portal a page at a time stays far below;
    # a runaway loop is stopped within the minute, before it slows the site for everyone.
    LIMIT_API = "1200/minute;20000/hour"
    # Someone helpfully reporting a wave of spam reports a few a minute; flooding the
    # moderators' queue is stopped at 10 a minute and 50 a day.
    LIMIT_REPORTS = "10/minute;50/day"
    # Invitations sent by one admin (each form may hold up to 100 addresses): a launch invites
    # a few customers' teams in a row; a stolen admin session mailing strangers is held to 10
    # forms a minute and 50 a day.
    LIMIT_INVITES = "10/minute;50/day"

    # Spam resistance. An account is "new" for its first hours; new accounts may put only a few
    # links in a post. The same text from one person is refused within DUPLICATE_WINDOW.
    # Forms with a honeypot refuse a submission sent sooner than FORM_MIN_SECONDS after the
    # form was first shown (bots fill forms instantly; redraws keep the first time, and sign-up,
    # which password managers fill at once, skips this), or later than FORM_MAX_SECONDS, and
    # each showing of the form may be sent once (portal.forms.bot_problem); 0 switches all off.
    #
    # A day: long enough that a throwaway account made for spam is still new when it posts.
    NEW_ACCOUNT_PERIOD = timedelta(hours=24)
    # A genuine idea links a spec, a screenshot and a competitor's page at most; link-farm spam
    # carries many more. A newcomer over the limit is told, keeps the text, and can post it the
    # next day.
    NEW_ACCOUNT_MAX_LINKS = 5
    # The same text twice from one person: a double-click, a resent form or a copy-paste run.
    # Five minutes catches those; the refusal says to reload the page or change the text. A
    # short reply ("Thanks!") counts as repeated only in the same conversation
    # (portal.services.abuse.SHORT_REPLY), so saying it in two threads is never refused.
    DUPLICATE_WINDOW = timedelta(minutes=5)
    FORM_MIN_SECONDS = 3
    FORM_MAX_SECONDS = 6 * 3600

    # Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
    TRUSTED_PROXIES = 0

    REDIS_URL: str | None = None

    # The server-side cache (portal/cache.py): pages and values computed from the database,
    # invalidated exactly by every write. In each worker's memory (at most CACHE_MAX_MEGABYTES
    # there), or in Redis when REDIS_URL is set. Entries live at most CACHE_TTL_SECONDS.
    CACHE_ENABLED = True
    CACHE_TTL_SECONDS = 300
    CACHE_MAX_MEGABYTES = 64
    CACHE_KEY_PREFIX = "portal-cache"

    # Outgoing mail. With no MAIL_SERVER, messages are written as .eml files under instance/mail/.
    MAIL_SERVER: str | None = None
    MAIL_PORT = 587
    MAIL_SECURITY = "starttls"  # starttls, tls or none
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    # The sender's address; its name is the site's name (Admin > Settings) unless given here,
    # as in "Acme Feedback <feedback@acme.example>".
    MAIL_SENDER = "portal@localhost"
    MAIL_TIMEOUT_SECONDS = 30
    # Who delivers the outbox: "rq" (a worker; the default with REDIS_URL), "thread" (a thread
    # in each app server; the default without) or "inline" (after each request; for tests).
    MAIL_DELIVERY = ""
    MAIL_SWEEP_SECONDS = 15  # how often pending retries are looked for
    MAIL_LEASE_SECONDS = 300  # a claimed message is sent again if not marked sent by then
    MAIL_RETRY_DELAYS = [60, 300, 1800, 7200, 21600]  # seconds after the 1st, 2nd... failure
    MAIL_MAX_ATTEMPTS = 6  # then the message is failed and shown to admins
    DIGEST_LOOKBACK_DAYS = 7  # a digest covers unread notifications up to this old
    # Webhooks, delivered by the same workers as the outbox (portal.mail.webhooks).
    WEBHOOK_RETRY_DELAYS = [30, 300, 1800, 7200]  # seconds after the 1st, 2nd... failure
    WEBHOOK_MAX_ATTEMPTS = 5  # then the delivery has failed
    WEBHOOK_CONNECT_TIMEOUT = 3.0
    WEBHOOK_TIMEOUT = 10.0  # the whole exchange
    WEBHOOK_RESPONSE_CAP = 4096  # bytes of the answer read and kept
    # An endpoint is disabled, and the admins told, when this many deliveries in a row failed
    # every attempt, or when it has failed for this long without one success.
    WEBHOOK_DISABLE_AFTER_FAILURES = 5
    WEBHOOK_DISABLE_AFTER_HOURS = 72

    # Single sign-on (docs/sso.md). OpenID Connect providers set by the environment, beside any
    # the admins add: PORTAL_OIDC_PROVIDERS='[{"slug": "acme", "name": "Acme login",
    # "discovery_url": "https://id.acme.example/.well-known/openid-configuration",
    # "client_id": "...", "client_secret": "...", "scopes": "openid email profile",
    # "role_claim": "groups", "role_mapping": "portal-admins = admin",
    # "forced_domains": "acme.example"}]'. Shown read-only on the admin page, secret hidden.
    OIDC_PROVIDERS: list[dict[str, str]] = []
    OIDC_HTTP_TIMEOUT_SECONDS = 5.0  # discovery, keys and the token exchange
    OIDC_METADATA_CACHE_SECONDS = 300  # a provider's discovery document is kept this long
    WEBHOOK_ROTATION_GRACE_HOURS = 24  # a rotated-out secret still signs for this long

    DEMO_PASSWORD: str | None = None

    # Operations (portal/observability.py). GET /healthz is always on, for load balancers.
    # REQUEST_LOG "json": one JSON object per request on the "portal.requests" logger (stderr);
    # "off": none.
    REQUEST_LOG = "json"
    # GET /metrics in Prometheus's text format; while off it is a 404 like any unknown page.
    # With METRICS_TOKEN set, a scrape must send "Authorization: Bearer <token>"; without one,
    # anyone who reaches the site reads the counts (or block /metrics at the proxy).
    # Under gunicorn, each worker process counts on its own: set the environment variable
    # PROMETHEUS_MULTIPROC_DIR to an empty folder used by nothing else (e.g. /run/portal-metrics)
    # before gunicorn starts, and every scrape adds up all workers. ./gunicorn.conf.py empties
    # that folder when the server starts; two servers on one machine need a folder each.
    METRICS_ENABLED = False
    METRICS_TOKEN: str | None = None


def _database_uri(url: str) -> str:
    """Accept the URLs hosting platforms hand out and use psycopg 3 for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_config(app: Flask, test_config: dict | None) -> None:
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("PORTAL")
    if os.environ.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    if os.environ.get("REDIS_URL"):
        app.config["REDIS_URL"] = os.environ["REDIS_URL"]
    if test_config:
        app.config.update(test_config)

    uri = app.config["SQLALCHEMY_DATABASE_URI"] or (
        "sqlite:///" + str(Path(app.instance_path) / "portal.sqlite3")
    )
    app.config["SQLALCHEMY_DATABASE_URI"] = _database_uri(uri)
    # A server's connection can drop (a restart, a failover, an idle timeout), so PostgreSQL's
    # are tried before use and a dead one is replaced instead of failing a request. A SQLite
    # "connection" is an open file that cannot drop, and the ping would cost a round trip into
    # the driver before every checkout, so SQLite has none unless the options ask for it.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "pool_pre_ping": not uri.startswith("sqlite"),
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
    }
    if uri.startswith("postgres") and "connect_timeout" not in make_url(uri).query:
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        options["connect_args"] = {
            "connect_timeout": app.config["DATABASE_CONNECT_TIMEOUT_SECONDS"],
            **options.get("connect_args", {}),
        }
    if not app.config["RATELIMIT_STORAGE_URI"]:
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or limit_storage.uri_for(
            Path(app.instance_path) / "rate-limits.sqlite3"
        )

    app.config["BASE_URL_CONFIGURED"] = bool(app.config["BASE_URL"])
    if not app.config["BASE_URL"]:
        app.config["BASE_URL"] = str(app.config["SERVED_AT"] or FALLBACK_BASE_URL)
    secure = app.config["BASE_URL"].startswith("https://")
    for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if app.config[name] is None:
            app.config[name] = secure
    app.config["PREFERRED_URL_SCHEME"] = "https" if secure else "http"

    if app.config.get("SECRET_KEY") is not None:
        app.config["SECRET_KEY"] = str(app.config["SECRET_KEY"])  # PORTAL_ values parse as JSON
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret(app, "secret_key")


def listening_url(scheme: str, host: str, port: int) -> str:
    """The address of a listening socket as people open it: every interface reads as loopback."""
    if host in ("0.0.0.0", "::"):  # noqa: S104 (read, not bound)
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"  # noqa: S104
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def base_url_warning(app: Flask) -> str | None:
    """What a server in production says at start-up when links may not lead where people are."""
    if app.config["BASE_URL_CONFIGURED"] or app.debug or app.testing:
        return None
    where = (
        "this server's address"
        if app.config["SERVED_AT"]
        else "the default address, which may not be this server's"
    )
    return (
        f"PORTAL_BASE_URL is not set: links in emails and feeds point at "
        f"{app.config['BASE_URL']}, {where}. People outside this machine cannot open them; "
        f"set PORTAL_BASE_URL to the address people use, e.g. https://ideas.example.com."
    )


def instance_secret(app: Flask, name: str, nbytes: int = 32) -> str:
    """Read a generated secret from instance/, creating it once.

    Several gunicorn workers may start together, so the file is written aside and linked into
    place: exactly one creation wins and everyone reads that one.
    """
    path = Path(app.instance_path) / name
    if path.exists():
        return path.read_text().strip()
    tmp = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(nbytes) + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
