"""Operations: /healthz for load balancers, the JSON request log, and Prometheus /metrics."""

from __future__ import annotations

import collections
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from flask import Flask, url_for
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from portal import observability
from portal.extensions import db, limiter

from .conftest import sign_in_client
from .helpers import link_in, page_text
from .servers import Browser, Gunicorn, flask_command, free_port, server_environment

# A password that must never come back in a health answer, whatever fails.
DB_PASSWORD = "hunter2-do-not-log"


METRICS_ON = pytest.mark.parametrize(
    "config_overrides", [{"METRICS_ENABLED": True}], ids=["metrics"]
)


@pytest.fixture
def request_log(caplog) -> Iterator:
    """request_log() -> the JSON objects logged on portal.requests so far, parsed.

    The logger writes to stderr and not to the root logger (no line twice), so pytest's
    capturing handler is attached to it here.
    """
    logger = logging.getLogger("portal.requests")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger.name)  # as an app with the log on leaves it

    def entries() -> list[dict]:
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == logger.name]

    yield entries
    logger.removeHandler(caplog.handler)


def boom_route(app: Flask) -> None:
    @app.route("/test-only/boom")
    def boom():
        raise RuntimeError("the detail of a crash, which can hold data")


# --- /healthz ----------------------------------------------------------------------------------


def test_healthz_says_ok_and_leaves_no_connection_checked_out(app, client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "not configured"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert db.engine.pool.checkedout() == 0


def test_healthz_answers_a_head_request(client):
    response = client.head("/healthz")

    assert response.status_code == 200
    assert response.data == b""


def test_healthz_sets_no_cookie_for_a_signed_in_person(client, make_user):
    sign_in_client(client, make_user("customer"))

    response = client.get("/healthz")

    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_healthz_checks_redis_when_configured(another_app):
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    probe = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        probe.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {url}: {exc}; CI must provide it")
        pytest.skip(f"Redis is not reachable at {url}")
    finally:
        probe.close()
    client = another_app(REDIS_URL=url).test_client()

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_is_503_quickly_when_redis_is_down(another_app):
    client = another_app(
        REDIS_URL=f"redis://:{DB_PASSWORD}@127.0.0.1:{free_port()}/0"
    ).test_client()

    started = time.monotonic()
    response = client.get("/healthz")

    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "database": "ok",
        "redis": "failed: ConnectionError",
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert DB_PASSWORD not in response.text


@pytest.mark.parametrize("kind", ["postgresql-closed-port", "postgresql-hung", "sqlite-no-folder"])
def test_healthz_is_503_quickly_when_the_database_is_down(
    another_app, silent_server, tmp_path, kind
):
    urls = {
        "postgresql-closed-port": f"postgresql://portal:{DB_PASSWORD}@127.0.0.1:{free_port()}/x",
        "postgresql-hung": f"postgresql://portal:{DB_PASSWORD}@127.0.0.1:{silent_server}/x",
        "sqlite-no-folder": f"sqlite:///{tmp_path / 'no-such-folder' / 'portal.sqlite3'}",
    }
    application = another_app(
        SQLALCHEMY_DATABASE_URI=urls[kind],
        SQLALCHEMY_ENGINE_OPTIONS={},
        DATABASE_CONNECT_TIMEOUT_SECONDS=2,  # libpq's least
    )

    started = time.monotonic()
    response = application.test_client().get("/healthz")

    assert time.monotonic() - started < 4
    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "database": "failed: OperationalError",
        "redis": "not configured",
    }
    assert DB_PASSWORD not in response.text and "127.0.0.1" not in response.text


def test_healthz_is_never_rate_limited(another_app, monkeypatch):
    # Default and application-wide limits are set on the process's one limiter by the first app
    # that names them; start from none and put back what was there afterwards.
    monkeypatch.setattr(limiter.limit_manager, "_default_limits", [])
    monkeypatch.setattr(limiter.limit_manager, "_application_limits", [])
    limited = another_app(RATELIMIT_DEFAULT="3/minute", RATELIMIT_APPLICATION="3/minute")
    client = limited.test_client()

    statuses = [client.get("/healthz").status_code for _ in range(10)]
    other_page = [client.get("/guidelines").status_code for _ in range(4)]

    assert statuses == [200] * 10
    assert other_page == [200, 200, 200, 429], "the limits should apply to other pages"


# --- The request log ---------------------------------------------------------------------------


def test_each_request_is_one_json_line_with_what_operators_need(
    client, make_user, make_idea, request_log
):
    person = make_user("customer")
    idea = make_idea(author=person)
    sign_in_client(client, person)

    response = client.get(f"/ideas/{idea.id}", headers={"User-Agent": "probe/1.0"})

    [entry] = request_log()
    assert set(entry) == {
        "time",
        "level",
        "request_id",
        "method",
        "route",
        "path",
        "status",
        "duration_ms",
        "bytes",
        "user_id",
        "remote_addr",
        "user_agent",
    }
    logged_at = datetime.fromisoformat(entry["time"])
    assert logged_at.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - logged_at).total_seconds()) < 60
    assert entry["level"] == "info"
    assert re.fullmatch(r"[0-9a-f]{32}", entry["request_id"])
    assert response.headers["X-Request-ID"] == entry["request_id"]
    assert entry["method"] == "GET"
    assert entry["route"] == "/ideas/<id:idea_id>"
    assert entry["path"] == f"/ideas/{idea.id}"
    assert entry["status"] == 200
    assert 0 < entry["duration_ms"] < 30_000
    assert entry["bytes"] == len(response.data)
    assert entry["user_id"] == person.id
    assert entry["remote_addr"] == "127.0.0.1"
    assert entry["user_agent"] == "probe/1.0"


def test_an_anonymous_404_is_logged_as_unmatched(client, request_log):
    client.get("/no-such-page")

    [entry] = request_log()
    assert (entry["route"], entry["path"], entry["status"]) == ("unmatched", "/no-such-page", 404)
    assert entry["user_id"] is None


def test_request_ids_are_distinct_and_need_no_system_call(client, stages, monkeypatch):
    # uuid4 read os.urandom on every request, the largest single cost before a cached page.
    client.get("/")
    reads = []
    real_urandom = os.urandom
    monkeypatch.setattr("os.urandom", lambda n: reads.append(n) or real_urandom(n))

    ids = [client.get("/").headers["X-Request-ID"] for _ in range(50)]

    assert reads == []
    assert len(set(ids)) == 50
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)


def test_a_safe_incoming_request_id_is_kept(client, request_log):
    response = client.get("/healthz", headers={"X-Request-ID": "lb-42.Zz_9"})

    assert response.headers["X-Request-ID"] == "lb-42.Zz_9"
    assert request_log()[-1]["request_id"] == "lb-42.Zz_9"


@pytest.mark.parametrize(
    "incoming", ["", "x" * 65, "has space", "semi;colon", "<script>", "ünïcode", '"quoted"']
)
def test_an_unsafe_incoming_request_id_is_replaced(client, request_log, incoming):
    response = client.get("/healthz", headers={"X-Request-ID": incoming})

    echoed = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", echoed)
    assert request_log()[-1]["request_id"] == echoed


def test_a_password_reset_token_never_reaches_the_log(
    client, make_user, outbox, request_log, caplog
):
    make_user("customer", email="forgetful@example.com")
    client.post("/password/forgot", data={"email": "forgetful@example.com"})
    link = link_in(outbox.to("forgetful@example.com")[-1], "/password/reset/")
    path = link[link.index("/password/reset/") :]
    token = path.rsplit("/", 1)[1]

    page = client.get(path)
    done = client.post(path, data={"password": "a brand new passphrase"})
    client.get(f"/?token={token}")  # a query string is never logged either

    assert (page.status_code, done.status_code) == (200, 302)
    reset_entries = [e for e in request_log() if e["route"] == "/password/reset/<token>"]
    assert [(e["method"], e["path"]) for e in reset_entries] == [
        ("GET", "/password/reset/[redacted]"),
        ("POST", "/password/reset/[redacted]"),
    ]
    assert request_log()[-1]["path"] == "/"
    assert token not in caplog.text


def test_every_route_with_a_token_logs_it_redacted(app, client, request_log):
    rules = [r for r in app.url_map.iter_rules() if "token" in r.arguments]
    assert len(rules) >= 4  # confirmation, reset, unsubscribe, outcome

    for rule in rules:
        with app.test_request_context():
            url = url_for(rule.endpoint, token="made-up-token-0123456789")
        client.get(url)
        entry = request_log()[-1]
        assert entry["route"] == rule.rule
        assert entry["path"] == rule.rule.replace("<token>", "[redacted]")
        assert "made-up-token" not in json.dumps(entry)


def test_every_url_argument_that_looks_secret_is_redacted(app):
    secret_looking = re.compile(r"token|secret|key|signature|code|password", re.IGNORECASE)
    for rule in app.url_map.iter_rules():
        for name in rule.arguments:
            if secret_looking.search(name):
                assert name in observability.SECRET_URL_ARGUMENTS, (rule.rule, name)


@pytest.mark.parametrize(
    "config_overrides",
    [{"PROPAGATE_EXCEPTIONS": False}, {"PROPAGATE_EXCEPTIONS": True}],
    ids=["error-page", "propagated"],
)
def test_a_crash_is_logged_once_as_500_with_its_exception_type(
    app, client, request_log, config_overrides
):
    boom_route(app)

    if config_overrides["PROPAGATE_EXCEPTIONS"]:
        with pytest.raises(RuntimeError):
            client.get("/test-only/boom")
    else:
        assert client.get("/test-only/boom").status_code == 500

    [entry] = request_log()
    assert (entry["level"], entry["status"], entry["error"]) == ("error", 500, "RuntimeError")
    assert entry["route"] == "/test-only/boom"
    assert "detail of a crash" not in json.dumps(entry)


@pytest.mark.parametrize("config_overrides", [{"PROPAGATE_EXCEPTIONS": False}], ids=["error-page"])
def test_a_crash_on_a_link_with_a_token_logs_no_token(app, client, caplog):
    @app.route("/test-only/boom/<token>")
    def boom_with_token(token):
        raise RuntimeError("a crash")

    token = "tok" + "en-9f8e7d6c5b4a"
    with caplog.at_level(logging.DEBUG):
        assert client.get(f"/test-only/boom/{token}").status_code == 500

    assert "Exception on /test-only/boom/[redacted] [GET]" in caplog.text
    assert token not in caplog.text


class StalledStderr:
    """A stderr whose writes wait until released: a full pipe, a stalled log shipper."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.written: list[str] = []

    def write(self, text: str) -> int:
        self.released.wait(timeout=30)
        self.written.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_a_stalled_stderr_never_holds_up_a_request(client, monkeypatch):
    stderr = StalledStderr()
    monkeypatch.setattr("sys.stderr", stderr)
    with ThreadPoolExecutor(1) as pool:
        answered = pool.submit(client.get, "/healthz")
        try:
            response = answered.result(timeout=5)  # before stderr takes a single line
            assert response.status_code == 200
            assert stderr.written == []
        finally:
            stderr.released.set()
    observability._background_handler.flush()  # as at exit: every queued line written

    [line] = [json.loads(text) for text in stderr.written if text.strip()]
    assert line["route"] == "/healthz"
    assert line["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("config_overrides", [{"REQUEST_LOG": "off"}], ids=["off"])
def test_the_request_log_can_be_switched_off(client, request_log):
    client.get("/healthz")
    client.get("/no-such-page")

    assert request_log() == []


def test_an_unknown_request_log_setting_stops_the_app_starting(another_app):
    with pytest.raises(ValueError, match="REQUEST_LOG"):
        another_app(REQUEST_LOG="yes")


# --- /metrics ----------------------------------------------------------------------------------


def scrape(client, **headers) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} from the /metrics page."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["Cache-Control"] == "no-store"
    return samples_of(response.get_data(as_text=True))


def samples_of(exposition: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_is_a_404_like_any_unknown_page_while_off(client):
    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    before = REGISTRY.get_sample_value("portal_requests_total", healthz)

    client.get("/healthz")
    response = client.get("/metrics")

    assert response.status_code == 404
    unknown = page_text(client.get("/no-such-page"))
    assert page_text(response) == unknown.replace("/no-such-page", "/metrics")
    assert REGISTRY.get_sample_value("portal_requests_total", healthz) == before, "nothing counted"


@METRICS_ON
def test_metrics_count_requests_by_route_rule_with_durations(client, make_idea):
    idea = make_idea()
    before = scrape(client)

    for _ in range(3):
        client.get(f"/ideas/{idea.id}")
    client.get("/no-such-page-at-all")
    after = scrape(client)

    route = "/ideas/<id:idea_id>"
    counted = value(after, "portal_requests_total", method="GET", route=route, status="200")
    assert (
        counted - value(before, "portal_requests_total", method="GET", route=route, status="200")
        == 3
    )
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert (
        value(after, "portal_requests_total", **unmatched)
        - value(before, "portal_requests_total", **unmatched)
        == 1
    )
    timed = {"method": "GET", "route": route}
    assert (
        value(after, "portal_request_duration_seconds_count", **timed)
        - value(before, "portal_request_duration_seconds_count", **timed)
        == 3
    )
    buckets = sorted(
        float(dict(labels)["le"])
        for name, labels in after
        if name == "portal_request_duration_seconds_bucket" and dict(labels)["route"] == route
    )
    assert buckets[0] == 0.005 and buckets[-2] == 5.0 and buckets[-1] == float("inf")
    routes = {dict(labels).get("route") for _name, labels in after} - {None}
    assert not any(str(idea.id) in r or "no-such-page" in r for r in routes), routes
    assert any(name == "process_cpu_seconds_total" for name, _labels in after)


@METRICS_ON
def test_metrics_count_the_page_cache_hits_misses_and_304s(client, make_idea):
    path = f"/ideas/{make_idea().id}"
    before = scrape(client)

    client.get(path)  # rendered and kept
    etag = client.get(path).headers["ETag"]  # kept
    client.get(path, headers={"If-None-Match": etag})  # not modified
    after = scrape(client)

    def counted(result: str) -> float:
        return value(after, "portal_cache_pages_total", result=result) - value(
            before, "portal_cache_pages_total", result=result
        )

    assert (counted("miss"), counted("hit"), counted("not_modified")) == (1, 1, 1)


@pytest.mark.parametrize(
    "config_overrides",
    [{"METRICS_ENABLED": True, "METRICS_TOKEN": "scrape-token-0123456789"}],
    ids=["token"],
)
def test_metrics_needs_the_bearer_token_when_one_is_set(client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "portal_requests" not in response.text

    samples = scrape(client, Authorization="Bearer scrape-token-0123456789")

    assert any(name == "portal_requests_total" for name, _labels in samples)


@METRICS_ON
def test_a_counter_defined_twice_is_one_counter_shown_on_metrics(client):
    widgets = observability.counter("portal_test_widgets", "Widgets seen by a test.", ("kind",))
    again = observability.counter("portal_test_widgets", "Widgets seen by a test.", ("kind",))
    before = value(scrape(client), "portal_test_widgets_total", kind="blue")

    again.labels("blue").inc(2)

    assert widgets is again
    assert value(scrape(client), "portal_test_widgets_total", kind="blue") == before + 2
    with pytest.raises(ValueError, match="already exists"):
        observability.counter("portal_test_widgets", "Widgets seen by a test.", ("colour",))


# --- Under gunicorn: every worker counted in each scrape ------------------------------------------


class HalfSentRequest:
    """A GET /healthz whose headers are not finished yet.

    A sync worker (one thread) takes connections in the order they came and waits for the rest
    of this one's headers: while it is open, the other worker answers everything else. That
    decides, rather than leaves to chance, which worker answers what.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        # Taken by a worker before the test goes on, or a worker finishing something else
        # could take it instead of the one that was idle.
        deadline = time.monotonic() + 10
        while waiting_connections(port) and time.monotonic() < deadline:
            time.sleep(0.005)

    def finish(self) -> bytes:
        self.sock.sendall(b"Connection: close\r\n\r\n")
        with self.sock, self.sock.makefile("rb") as answer:
            return answer.read()


def waiting_connections(port: int) -> int:
    """Connections in the accept queue of the server listening on port (Linux's /proc)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        _slot, local, _remote, state, queues, *_rest = line.split()
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: listening
            return int(queues.split(":")[1], 16)  # for a listener: its accept queue
    raise AssertionError(f"nothing listens on port {port}")


@pytest.mark.slow
def test_gunicorn_workers_add_up_in_every_scrape(tmp_path):
    if os.environ.get("PORTAL_TEST_BACKEND") == "postgresql":
        pytest.skip("a server test on a SQLite file: it runs in the SQLite pass of the suite")
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"left over from a previous run")
    (metrics_dir / "notes.txt").write_text("not ours")
    env = server_environment(
        PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'portal.db'}",
        PORTAL_METRICS_ENABLED="true",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    flask_command(env, "db", "upgrade")
    server = Gunicorn("metrics", env, tmp_path, workers=2, threads=1)  # sync workers

    def ten_healthz() -> None:
        with ThreadPoolExecutor(max_workers=5) as pool:
            statuses = pool.map(lambda _: Browser(server.url).get("/healthz").status, range(10))
            assert list(statuses) == [200] * 10

    def healthz_count() -> float:
        response = Browser(server.url).get("/metrics")
        assert response.status == 200, response.text
        samples = samples_of(response.text)
        timed = value(
            samples, "portal_request_duration_seconds_count", route="/healthz", method="GET"
        )
        counted = value(
            samples, "portal_requests_total", route="/healthz", method="GET", status="200"
        )
        assert timed == counted
        return counted

    try:
        server.start().wait_until_serving()
        assert not (metrics_dir / "counter_1.db").exists(), "a previous run's file was kept"
        assert (metrics_dir / "notes.txt").exists()

        first = HalfSentRequest(server.port)  # worker X waits on it
        ten_healthz()  # all answered by worker Y
        second = HalfSentRequest(server.port)  # now Y waits
        assert first.finish().startswith(b"HTTP/1.1 200")  # X answers it ...
        ten_healthz()  # ... and these ten
        count_seen_by_x = healthz_count()
        third = HalfSentRequest(server.port)  # X waits again
        assert second.finish().startswith(b"HTTP/1.1 200")  # Y answers it
        count_seen_by_y = healthz_count()
        assert third.finish().startswith(b"HTTP/1.1 200")
        log = server.stderr()
    finally:
        server.stop()
    report = server.report()

    assert "Traceback" not in log, report
    access = server.access_log()
    healthz_workers = [pid for pid, line, _status in access if line.startswith("GET /healthz")]
    scrape_workers = [pid for pid, line, _status in access if line.startswith("GET /metrics")]
    # X answered 12 (first, ten, third) and Y 11 (ten, second); each answered one scrape,
    # and each scrape counted every request answered so far, by either worker.
    assert sorted(collections.Counter(healthz_workers).values()) == [11, 12], report
    assert len(set(scrape_workers)) == 2, f"each worker should have answered a scrape:\n{report}"
    assert (count_seen_by_x, count_seen_by_y) == (21, 22), report
