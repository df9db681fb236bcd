"""The portal under real gunicorn: several worker processes writing to one SQLite file, and
rate limits shared between two servers through Redis.

These start real servers, so they take some seconds each; each runs once per `make test`:
the SQLite one in the SQLite pass, the PostgreSQL-and-Redis one in the PostgreSQL pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import Comment, Idea, Role, User, Vote
from portal.models.types import utcnow
from portal.services import accounts, ideas
from portal.services.accounts import SIGN_IN_FAILED

from . import dbutil
from .servers import (
    Browser,
    Gunicorn,
    flask_command,
    private_postgres_database,
    server_environment,
    unavailable,
)

pytestmark = pytest.mark.slow

PASSWORD = "gunicorn proof passphrase"
CUSTOMERS = 30


@pytest.fixture
def start_server(tmp_path) -> Iterator:
    """start_server(name, env, workers=, threads=) -> a serving Gunicorn, stopped afterwards.

    Its logs are printed at teardown, which pytest shows only when the test failed.
    """
    started: list[Gunicorn] = []

    def start(name: str, env: dict[str, str], **options) -> Gunicorn:
        server = Gunicorn(name, env, tmp_path, **options)
        started.append(server)
        server.start().wait_until_serving()
        return server

    yield start
    for server in started:
        server.stop(wait=False)
    for server in started:
        server.wait_stopped()
        print(server.report())


@contextlib.contextmanager
def portal_app(monkeypatch, instance: Path, database_url: str):
    """The portal's app on the servers' database, in this process, to set up and check data."""
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(instance))
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_STORAGE_URI": "memory://"}
    )
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


# --- Four workers on one SQLite file ---------------------------------------------------------


def _seed_idea_and_customers(count: int) -> tuple[int, list[str]]:
    author = accounts.create_user(
        email="author@example.com",
        display_name="Idea Author",
        password=PASSWORD,
        verified=True,
        accepted_guidelines=True,
    )
    emails = [f"customer{n}@example.com" for n in range(count)]
    db.session.add_all(
        User(
            email=email,
            display_name=f"Customer {n}",
            password_hash=author.password_hash,  # one argon2 hash for everyone: hashing is slow
            role=Role.CUSTOMER.value,
            email_verified_at=utcnow(),
            guidelines_accepted_at=utcnow(),
        )
        for n, email in enumerate(emails)
    )
    idea = ideas.submit_idea(
        author=author,
        title="Export reports to Excel",
        problem="Our finance team copies numbers by hand every month.",
    )
    db.session.commit()
    return idea.id, emails


def _sign_in(base_url: str, email: str) -> Browser:
    browser = Browser(base_url)
    response = browser.submit("/sign-in", "/sign-in", {"email": email, "password": PASSWORD})
    assert response.status == 302, f"{email} could not sign in: {response.status}"
    assert response.location == "/", f"{email} was sent to {response.location}"
    return browser


def test_four_workers_on_one_sqlite_file_lose_no_vote_and_never_lock(
    start_server, tmp_path, monkeypatch
):
    if dbutil.backend() != "sqlite":
        pytest.skip("a SQLite-file test: it runs in the SQLite pass of the suite")
    instance = tmp_path / "instance"
    database_url = f"sqlite:///{tmp_path / 'portal.db'}"
    env = server_environment(
        PORTAL_INSTANCE_PATH=str(instance),
        DATABASE_URL=database_url,
        # Thirty new accounts posting at once from one address would meet the rate limits;
        # this test is about the database, and the limits are the next test's subject.
        PORTAL_RATELIMIT_ENABLED="false",
        PORTAL_FORM_MIN_SECONDS="0",  # as in conftest: the clients fill forms in instantly
    )
    flask_command(env, "db", "upgrade")
    with portal_app(monkeypatch, instance, database_url):
        idea_id, emails = _seed_idea_and_customers(CUSTOMERS)
    idea_path = f"/ideas/{idea_id}"

    server = start_server("sqlite", env, workers=4, threads=4)

    vote_path, comment_path = f"{idea_path}/vote", f"{idea_path}/comments"

    def open_idea(email: str) -> tuple[dict[str, str], dict[str, str]]:
        page = browsers[email].get(idea_path)
        return page.form(vote_path), page.form(comment_path)

    with ThreadPoolExecutor(max_workers=CUSTOMERS) as pool:
        browsers = dict(
            zip(emails, pool.map(lambda e: _sign_in(server.url, e), emails), strict=True)
        )
        forms = dict(zip(emails, pool.map(open_idea, emails), strict=True))

        # Everyone at once: a vote, the same vote again (a double click), a comment, a read.
        def act(task: tuple[str, str]) -> tuple[str, str, int]:
            kind, email = task
            browser, (vote_form, comment_form) = browsers[email], forms[email]
            if kind == "read":
                response = browser.get(idea_path)
            elif kind == "comment":
                response = browser.post(comment_path, {**comment_form, "body": f"Me too, {email}."})
            else:
                assert vote_form["action"] == "vote"
                response = browser.post(vote_path, vote_form)
            return kind, email, response.status

        tasks = [(kind, e) for e in emails for kind in ("vote", "vote", "comment", "read")]
        random.Random(5).shuffle(tasks)
        results = list(pool.map(act, tasks))

    log = server.stderr()
    assert "database is locked" not in log
    assert "Traceback" not in log
    errors = [r for r in results if r[2] >= 500]
    assert errors == [], f"{len(errors)} server errors, e.g. {errors[:3]}"
    expected = {"vote": 303, "comment": 303, "read": 200}
    wrong = [r for r in results if r[2] != expected[r[0]]]
    assert wrong == [], f"unexpected answers: {wrong[:5]}"
    writers = {pid for pid, line, _ in server.access_log() if line.startswith("POST /ideas/")}
    assert len(writers) >= 2, "the writes should have been spread over several workers"

    with portal_app(monkeypatch, instance, database_url):
        idea = db.session.get(Idea, idea_id)
        voters = set(db.session.scalars(select(Vote.user_id).where(Vote.idea_id == idea_id)))
        customer_ids = set(db.session.scalars(select(User.id).where(User.email.in_(emails))))
        bodies = sorted(db.session.scalars(select(Comment.body).where(Comment.idea_id == idea_id)))
        vote_rows = db.session.scalar(select(func.count(Vote.id)).where(Vote.idea_id == idea_id))
        assert voters == customer_ids | {idea.author_id}
        assert vote_rows == CUSTOMERS + 1  # the author's own vote too
        assert idea.vote_count == CUSTOMERS + 1
        assert bodies == sorted(f"Me too, {email}." for email in emails)
        assert idea.comment_count == CUSTOMERS


# --- Two workers of one machine, without Redis ----------------------------------------------


def one_machine_server(start_server, tmp_path, name: str):
    """Two workers of gunicorn on one machine, on a SQLite file of their own (a test of one
    machine runs in the SQLite pass of the suite only)."""
    if dbutil.backend() != "sqlite":
        pytest.skip("a one-machine test: it runs in the SQLite pass of the suite")
    env = server_environment(
        PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'portal.db'}",
    )
    flask_command(env, "db", "upgrade")
    return start_server(name, env, workers=2, threads=4)


def test_without_redis_a_sign_in_limit_holds_across_two_workers(start_server, tmp_path):
    # Each worker once counted on its own: 12 failures a minute passed where 6 are set.
    server = one_machine_server(start_server, tmp_path, "one-machine")

    def failed_attempt(n: int):
        browser = Browser(server.url)  # a new connection each time, to whichever worker
        form = browser.get("/sign-in").form("/sign-in")
        guess = {"email": f"guess{n}@example.com", "password": f"wrong guess {n}"}
        return browser.post("/sign-in", {**form, **guess})

    answers = [failed_attempt(n).status for n in range(1, 21)]

    # LIMIT_SIGN_IN_PER_IP: 6 failures a minute, then refusals, from both workers alike.
    assert answers == [200] * 6 + [429] * 14
    answered = {pid for pid, line, _ in server.access_log() if line.startswith("POST /sign-in")}
    assert len(answered) == 2, "both workers should have answered sign-ins"
    assert (tmp_path / "instance" / "rate-limits.sqlite3").exists()
    assert "Traceback" not in server.stderr()


# --- Two servers sharing PostgreSQL and Redis ------------------------------------------------


@pytest.fixture
def shared_postgres(tmp_path) -> Iterator[str]:
    """A throwaway database on the test PostgreSQL server, dropped afterwards."""
    with private_postgres_database(tmp_path, "gunicorn") as url:
        yield url


@pytest.fixture
def shared_redis() -> Iterator[tuple[str, str]]:
    """(REDIS_URL, a key prefix of this test's own); the keys are deleted afterwards."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis is not reachable at {url}: {exc}")
    prefix = f"portal-test-{secrets.token_hex(6)}"
    try:
        yield url, prefix
    finally:
        keys = list(client.scan_iter(match=f"*{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_a_sign_in_limit_reached_through_one_server_holds_on_the_other(
    shared_postgres, shared_redis, start_server, tmp_path
):
    redis_url, prefix = shared_redis
    secret_key = secrets.token_hex(16)  # two machines of one site share their secret key

    def environment(name: str) -> dict[str, str]:
        return server_environment(
            PORTAL_INSTANCE_PATH=str(tmp_path / f"instance-{name}"),
            DATABASE_URL=shared_postgres,
            REDIS_URL=redis_url,
            PORTAL_RATELIMIT_KEY_PREFIX=prefix,
            PORTAL_SECRET_KEY=secret_key,
        )

    flask_command(environment("a"), "db", "upgrade")
    server_a = start_server("a", environment("a"), workers=2, threads=2)
    server_b = start_server("b", environment("b"), workers=2, threads=2)

    def failed_attempt(browser: Browser, n: int):
        form = browser.get("/sign-in").form("/sign-in")
        guess = {"email": f"guess{n}@example.com", "password": f"wrong guess {n}"}
        return browser.post("/sign-in", {**form, **guess})

    browser_a = Browser(server_a.url)
    answers = []
    for n in range(1, 16):
        response = failed_attempt(browser_a, n)
        answers.append(response.status)
        if response.status == 429:
            break
        assert response.status == 200
        assert SIGN_IN_FAILED in response.text.replace("&#39;", "'")
    # LIMIT_SIGN_IN_PER_IP: 6 failures a minute, counted once across A's two workers.
    assert answers == [200] * 6 + [429]

    response = failed_attempt(Browser(server_b.url), 99)
    assert response.status == 429
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert "Too many sign-in attempts" in response.text
    assert 'value="guess99@example.com"' in response.text  # what was typed is kept

    keys = list(redis.Redis.from_url(redis_url).scan_iter(match=f"*{prefix}*"))
    assert keys, "the limit's counters should be in Redis"


# --- The request log under workers --------------------------------------------------------------


def test_every_request_is_logged_by_its_worker_up_to_the_last_before_it_stops(
    start_server, tmp_path
):
    # A worker writes its lines from a thread of its own, started after the fork; the lines
    # still queued when it is told to stop are written before it ends.
    server = one_machine_server(start_server, tmp_path, "request-log")

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: Browser(server.url).get("/healthz").status, range(40)))
    server.stop()

    assert statuses == [200] * 40
    logged = [
        json.loads(line)
        for line in server.stderr().splitlines()
        if line.startswith("{") and '"route": "/healthz"' in line
    ]
    assert len(logged) == 40, server.report()
    assert len({entry["request_id"] for entry in logged}) == 40
