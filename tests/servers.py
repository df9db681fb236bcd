"""Real servers for tests: gunicorn in its own process group, and a browser-like HTTP client."""

from __future__ import annotations

import contextlib
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from html.parser import HTMLParser
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent

# The pid of the worker that served each request, so a test can tell workers apart.
ACCESS_LOG_FORMAT = '%(p)s "%(r)s" %(s)s'


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any portal settings, plus the given ones."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PORTAL_", "FLASK_"))
        and name not in ("DATABASE_URL", "REDIS_URL", "TEST_DATABASE_URL")
    }
    env.update(settings)
    return env


def flask_command(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    """Run `flask --app portal ARGS` as an operator would; its output, or an error with it."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "portal", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise AssertionError(f"flask {' '.join(args)} failed ({result.returncode}):\n{output}")
    return output


@dataclass
class Gunicorn:
    """`gunicorn wsgi:app` as `make run` starts it, logging to files in a folder."""

    name: str
    env: dict[str, str]
    log_dir: Path
    workers: int = 2
    threads: int = 4
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"{self.name}-stderr.log"

    @property
    def access_log_path(self) -> Path:
        return self.log_dir / f"{self.name}-access.log"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--chdir",
            str(ROOT),
            "--access-logfile",
            str(self.access_log_path),
            "--access-logformat",
            ACCESS_LOG_FORMAT,
            "--no-control-socket",
            "--graceful-timeout",
            "3",
            "wsgi:app",
        ]

    def start(self) -> Gunicorn:
        with self.stderr_path.open("wb") as stderr:
            # A session of its own, so stopping it takes the master and every worker.
            self.process = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        return self

    def wait_until_serving(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"gunicorn {self.name} exited with {self.process.returncode}:\n{self.stderr()}"
                )
            try:
                status = Browser(self.url).get("/sign-in").status
            except OSError:  # not listening yet
                time.sleep(0.1)
                continue
            if status == 200:
                return
            raise AssertionError(f"gunicorn {self.name} answered {status}:\n{self.stderr()}")
        raise AssertionError(
            f"gunicorn {self.name} did not answer in {timeout} s:\n{self.stderr()}"
        )

    def stop(self, *, wait: bool = True) -> None:
        """Quick shutdown (SIGQUIT) of the master and every worker; SIGKILL if that hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGQUIT)
        if wait:
            self.wait_stopped()

    def wait_stopped(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        # Whatever is left of the group (a hung master, an orphaned worker) is killed.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stderr(self) -> str:
        return _read(self.stderr_path)

    def access_log(self) -> list[tuple[str, str, int]]:
        """(worker pid, request line, status) for every request served."""
        entries = []
        for line in _read(self.access_log_path).splitlines():
            match = re.fullmatch(r'<(\d+)> "(.*)" (\d{3})', line.strip())
            if match:
                entries.append((match[1], match[2], int(match[3])))
        return entries

    def report(self) -> str:
        return (
            f"--- gunicorn {self.name} ({self.url}) stderr ---\n{self.stderr()}\n"
            f"--- gunicorn {self.name} access log ---\n{_read(self.access_log_path)}"
        )


class FlaskRun(Gunicorn):
    """`flask run --port N`, Flask's development server, as a developer starts it."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "flask", "--app", "portal", "run", "--port", str(self.port)]


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else "(no file)"


@dataclass
class Response:
    status: int
    headers: Message
    text: str

    @property
    def location(self) -> str:
        return urllib.parse.urlsplit(self.headers.get("Location", "")).path

    def form(self, action: str) -> dict[str, str]:
        """What a browser would send for the page's first form posting to action, untouched."""
        parser = _FormReader()
        parser.feed(self.text)
        for form_action, fields in parser.forms:
            if urllib.parse.urlsplit(form_action).path == action:
                return fields
        raise AssertionError(f"no form for {action} on the page ({self.status}):\n{self.text}")


class _FormReader(HTMLParser):
    """The forms of a page: (action, {name: value}) with the values a browser would send."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._fields: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self._fields = {}
            self.forms.append((attributes.get("action") or "", self._fields))
            return
        name = attributes.get("name")
        if self._fields is None or not name or tag not in ("input", "textarea", "select"):
            return
        kind = (attributes.get("type") or "text").lower()
        if kind in ("submit", "button", "image", "file"):
            return
        if kind in ("checkbox", "radio") and "checked" not in attributes:
            return
        self._fields[name] = attributes.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._fields = None


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a test looks at the redirect itself


class Browser:
    """One visitor: its own cookies, no proxy, redirects returned rather than followed."""

    def __init__(self, base_url: str, *, timeout: float = 30) -> None:
        assert base_url.startswith("http://127.0.0.1:"), "only the test's own servers"
        self.base_url = base_url
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(self.cookies),
            _KeepRedirects(),
        )

    def get(self, path: str) -> Response:
        request = urllib.request.Request(self.base_url + path, method="GET")  # noqa: S310
        return self._open(request)

    def post(self, path: str, data: dict[str, str]) -> Response:
        body = urllib.parse.urlencode(data).encode()
        request = urllib.request.Request(  # noqa: S310 (http to 127.0.0.1 only)
            self.base_url + path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        return self._open(request)

    def submit(self, page: str, action: str, data: dict[str, str]) -> Response:
        """Open the page, fill in its form for action with data, and send it."""
        return self.post(action, {**self.get(page).form(action), **data})

    def _open(self, request: urllib.request.Request) -> Response:
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return Response(response.status, response.headers, response.read().decode())
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, error.headers, error.read().decode(errors="replace"))


def start_flask(env: dict[str, str], *args: str, log_path: Path) -> subprocess.Popen:
    """`flask --app portal ARGS` in the background, logging to a file, in a session of its own.

    Stop it with stop_process_group(), which reaches whatever it started as well.
    """
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "portal", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def stop_process_group(
    process: subprocess.Popen, sig: int = signal.SIGKILL, *, timeout: float = 10
) -> None:
    """Send sig to a process started by start_flask and its group, and wait for it to end."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(timeout=timeout)


# --- Redis for tests -------------------------------------------------------------------------

# The claim tests/test_mail_delivery.py's redis_url fixture takes as well, so that no two tests
# ever share a database, whichever module they are in.
REDIS_CLAIM = "portal-test-mail-delivery:db{number}"


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose service is missing; in CI (CI=true) fail it: CI must provide it."""
    import pytest

    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; CI must provide it")
    pytest.skip(reason)


@contextlib.contextmanager
def private_redis_database(claim_seconds: int = 600):
    """The URL of an empty Redis database (1 to 15) of this test's own, emptied afterwards.

    RQ's keys take no prefix, so a test that runs workers needs a whole database. It is claimed
    with a key in the base database (TEST_REDIS_URL, default database 0) that expires should
    the test die. Skips (fails in CI) when Redis is unreachable or every database is taken.
    """
    import secrets

    import redis

    base = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    control = redis.Redis.from_url(base, socket_connect_timeout=3, socket_timeout=3)
    try:
        control.ping()
    except redis.RedisError as exc:
        control.close()
        unavailable(f"Redis is not reachable at {base}: {exc}")
    token = secrets.token_hex(8)
    for number in range(1, 16):
        claim = REDIS_CLAIM.format(number=number)
        if not control.set(claim, token, nx=True, ex=claim_seconds):
            continue
        url = urllib.parse.urlunsplit(urllib.parse.urlsplit(base)._replace(path=f"/{number}"))
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            empty = client.dbsize() == 0
        except redis.ResponseError:  # fewer databases configured
            empty = False
        if empty:
            break
        client.close()
        control.delete(claim)
    else:
        control.close()
        unavailable(f"no free Redis database at {base}")
    try:
        yield url
    finally:
        client.flushdb()  # all ours: it was empty when we took it
        if control.get(claim) == token.encode():
            control.delete(claim)
        client.close()
        control.close()


def private_postgres_database(tmp_path: Path, label: str) -> contextlib.AbstractContextManager[str]:
    """A throwaway database on the test PostgreSQL server for tests of several processes on
    one database; skips in the SQLite pass, and skips (fails in CI) without a server."""
    import psycopg
    import pytest
    from sqlalchemy import make_url

    from . import dbutil

    if dbutil.backend() != "postgresql":
        pytest.skip("several servers share one PostgreSQL database: it runs in that pass")
    server = make_url(dbutil._server_url()).set(drivername="postgresql")
    try:
        psycopg.connect(server.render_as_string(hide_password=False), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL is not reachable at {server.host}:{server.port}: {exc}")
    return dbutil.fresh_database(tmp_path, label)


_OIDC_PROVIDER = """
import sys, werkzeug.serving, oidc_provider_mock
app = oidc_provider_mock.app(require_nonce=True)
werkzeug.serving.make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True).serve_forever()
"""


@contextlib.contextmanager
def oidc_provider() -> Iterator[str]:
    """A real OpenID Connect provider on loopback (oidc-provider-mock) in its own process; its
    base URL. Set a person's claims with PUT {base}/users/{sub} (JSON); its sign-in page asks
    for the subject ("sub") and signs that person in. Any client id and secret are accepted.
    A process, not a thread: the mock uses Authlib's deprecated modules, whose warnings the
    tests turn into errors in every thread of theirs."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-c", _OIDC_PROVIDER, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the OpenID provider did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
