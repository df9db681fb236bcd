"""Two app servers, two email workers, one PostgreSQL database and one Redis: one site.

As a deployment on two machines would run: each machine has its own gunicorn (two workers
each) and its own `flask --app portal worker`, with its own instance folder, and both share
the database, Redis and the secret key. Whatever a person does through one server shows at
once through the other, a session works on both, limits and cached pages are shared, and
every background job (a confirmation email, a daily digest) is done once, not once per machine.

It runs in the PostgreSQL pass of the suite (SQLite is one machine's database); without
PostgreSQL or Redis it skips, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import itertools
import re
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from portal import create_app
from portal.extensions import db
from portal.models import Follow, OutboxMessage, OutboxStatus, Role, User
from portal.models.types import utcnow
from portal.services import accounts, comments, ideas

from .servers import (
    ROOT,
    Browser,
    Gunicorn,
    Response,
    flask_command,
    private_postgres_database,
    private_redis_database,
    server_environment,
    start_flask,
    stop_process_group,
)
from .test_mail_delivery import Mailbox, smtp_server  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow

PASSWORD = "one site on two machines"
TITLE = "Export reports to Excel"
FOLLOWERS = 3
SIGN_UPS = 4


class Visitor(Browser):
    """A browser at an address of its own: the servers trust one proxy's X-Forwarded-For, so
    each visitor meets the per-address limits alone, as different people would."""

    def __init__(self, base_url: str, ip: str) -> None:
        super().__init__(base_url)
        self.ip = ip

    def _open(self, request) -> Response:
        request.add_header("X-Forwarded-For", self.ip)
        return super()._open(request)

    def on(self, server: Gunicorn) -> Visitor:
        """The same person, with the cookies they have now, sent to another server."""
        other = Visitor(server.url, self.ip)
        for cookie in self.cookies:
            other.cookies.set_cookie(cookie)
        return other


@dataclass
class Site:
    """The deployment: two machines' servers and workers (this process has an app on its
    database and Redis, for setting up and checking)."""

    a: Gunicorn
    b: Gunicorn
    machine_env: Callable[[str], dict[str, str]]
    mailbox: Mailbox
    workers: list[subprocess.Popen]
    idea_id: int
    voter: str
    follower_emails: list[str]
    addresses: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def visitor(self, server: Gunicorn) -> Visitor:
        """A new person (a new address, no cookies) on a server."""
        return Visitor(server.url, f"198.51.100.{next(self.addresses)}")


def _seed() -> tuple[int, str, list[str]]:
    """An idea with followers and a comment they have not been told of yet (their daily
    digest's news), and a customer who will vote; returns (idea id, voter, followers)."""
    author = accounts.create_user(
        email="author@example.com",
        display_name="Idea Author",
        password=PASSWORD,
        verified=True,
        accepted_guidelines=True,
    )
    people = [
        User(
            email=f"{name}@example.com",
            display_name=name.title(),
            password_hash=author.password_hash,  # one argon2 hash for all: hashing is slow
            role=Role.CUSTOMER.value,
            email_verified_at=utcnow(),
            guidelines_accepted_at=utcnow(),
        )
        for name in ["voter", "commenter", *(f"follower{n}" for n in range(FOLLOWERS))]
    ]
    db.session.add_all(people)
    idea = ideas.submit_idea(
        author=author, title=TITLE, problem="Our finance team copies numbers by hand every month."
    )
    voter, commenter, *followers = people
    db.session.add_all(Follow(idea_id=idea.id, user_id=person.id) for person in followers)
    db.session.flush()
    comments.add_comment(idea, author=commenter, body="We copy them by hand every week.")
    db.session.commit()
    return idea.id, voter.email, [author.email, *(person.email for person in followers)]


@pytest.fixture
def site(tmp_path, monkeypatch, smtp_server) -> Iterator[Site]:  # noqa: F811 (the fixture)
    mail = smtp_server()
    secret_key = secrets.token_hex(16)  # the machines of one site share their secret key
    with (
        private_postgres_database(tmp_path, "scale") as database_url,
        private_redis_database() as redis_url,
    ):

        def machine_env(name: str) -> dict[str, str]:
            return server_environment(
                PORTAL_INSTANCE_PATH=str(tmp_path / f"instance-{name}"),
                DATABASE_URL=database_url,
                REDIS_URL=redis_url,
                PORTAL_SECRET_KEY=secret_key,
                PORTAL_BASE_URL="http://portal.test",
                PORTAL_TRUSTED_PROXIES="1",
                PORTAL_FORM_MIN_SECONDS="0",  # the visitors fill forms in instantly
                PORTAL_MAIL_SERVER="127.0.0.1",
                PORTAL_MAIL_PORT=str(mail.port),
                PORTAL_MAIL_SECURITY='"none"',
                PORTAL_MAIL_SWEEP_SECONDS="1",
            )

        flask_command(machine_env("a"), "db", "upgrade")
        servers = [Gunicorn(name, machine_env(name), tmp_path, threads=2) for name in "ab"]
        workers: list[subprocess.Popen] = []
        try:
            for server in servers:
                server.start()
            workers += [
                start_flask(machine_env(n), "worker", log_path=tmp_path / f"worker-{n}.log")
                for n in "ab"
            ]
            # This process writes through the same cache as the servers: any writer must.
            monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance-setup"))
            app = create_app(
                {
                    "SQLALCHEMY_DATABASE_URI": database_url,
                    "REDIS_URL": redis_url,
                    "RATELIMIT_STORAGE_URI": "memory://",
                }
            )
            with app.app_context():
                idea_id, voter, followers = _seed()
                for server in servers:
                    server.wait_until_serving()
                try:
                    yield Site(
                        *servers, machine_env, mail.mailbox, workers, idea_id, voter, followers
                    )
                finally:
                    db.session.remove()
                    db.engine.dispose()
        finally:
            for server in servers:
                server.stop(wait=False)
            for worker in workers:
                stop_process_group(worker)
            for server in servers:
                server.wait_stopped()
                print(server.report())
            for name in "ab":
                log = tmp_path / f"worker-{name}.log"
                print(f"--- worker {name} ---\n{log.read_text() if log.exists() else ''}")


# --- Reading pages ---------------------------------------------------------------------------


def votes_on(page: Response, idea_id: int) -> tuple[int, bool]:
    """(vote count, whether the viewer voted) of the idea's vote button on a page."""
    card = re.search(rf'id="idea-{idea_id}".*?</article>', page.text, re.S)
    text = card[0] if card else page.text  # the idea's own page has one vote button
    button = re.search(r'class="vote__button.*?</(?:button|a|div)>', text, re.S)[0]
    count = int(re.search(r'class="vote__count">(\d+)<', button)[1])
    return count, 'aria-pressed="true"' in button


def signed_in_as(page: Response) -> bool:
    return 'action="/sign-out"' in page.text


def sign_in(visitor: Visitor, email: str) -> None:
    response = visitor.submit("/sign-in", "/sign-in", {"email": email, "password": PASSWORD})
    assert response.status == 302, f"{email} could not sign in: {response.status}"


# --- The site's pages and people -------------------------------------------------------------


def _a_vote_through_a_shows_at_once_through_b(site: Site) -> None:
    home, idea_path = "/", f"/ideas/{site.idea_id}"
    for path in (home, idea_path):
        site.visitor(site.b).get(path)
        kept = site.visitor(site.b).get(path)
        assert kept.headers["X-Cache"] == "hit", path
        assert votes_on(kept, site.idea_id) == (1, False), path  # the author's own vote

    voter = site.visitor(site.a)
    sign_in(voter, site.voter)
    page = voter.get(idea_path)
    assert votes_on(page, site.idea_id) == (1, False)
    assert voter.post(f"{idea_path}/vote", page.form(f"{idea_path}/vote")).status == 303

    for path in (home, idea_path):
        anonymous = site.visitor(site.b).get(path)
        assert (anonymous.status, anonymous.headers["X-Cache"]) == (200, "miss"), path
        assert votes_on(anonymous, site.idea_id) == (2, False), path
        own = voter.on(site.b).get(path)
        assert signed_in_as(own), path
        assert votes_on(own, site.idea_id) == (2, True), path


def _an_anonymous_page_made_by_a_is_served_by_b(site: Site) -> None:
    made = site.visitor(site.a).get("/roadmap")
    assert (made.status, made.headers["X-Cache"]) == (200, "miss")
    served = site.visitor(site.b).get("/roadmap")
    assert (served.status, served.headers["X-Cache"]) == (200, "hit"), (
        f"B keeps copies of its own: ETag {served.headers['ETag']} on B, "
        f"{made.headers['ETag']} on A"
    )
    assert served.text == made.text


def _a_session_from_a_works_on_b_and_ends_on_both(site: Site) -> None:
    on_a = site.visitor(site.a)
    sign_in(on_a, site.voter)
    on_b = on_a.on(site.b)
    page = on_b.get("/my-ideas")
    assert page.status == 200, "signed in on A, B should know them"
    assert signed_in_as(page)

    signed_out = on_b.post("/sign-out", page.form("/sign-out"))
    assert signed_out.status == 302
    # A's browser still sends the cookie it had; the session behind it is over.
    assert on_a.get("/my-ideas").status == 302
    assert not signed_in_as(on_a.get("/"))


def _sign_in_failures_through_a_count_on_b(site: Site) -> None:
    """tests/test_gunicorn.py proves the limit in full; here only that it is one site's."""
    on_a = site.visitor(site.a)
    guess = {"email": "nobody@example.com", "password": "a wrong guess"}
    answers = [on_a.submit("/sign-in", "/sign-in", guess).status for _ in range(6)]
    assert answers == [200] * 6  # LIMIT_SIGN_IN_PER_IP: six failures a minute
    assert on_a.on(site.b).submit("/sign-in", "/sign-in", guess).status == 429


# --- Background jobs -------------------------------------------------------------------------


def _settled_mail(site: Site, count: int, what: str) -> list:
    """The messages, once `count` have come and nothing is left to send, and a moment more
    for a copy that a second worker might be sending."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        db.session.commit()
        waiting = (OutboxStatus.PENDING, OutboxStatus.SENDING)
        busy = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.status.in_(waiting)))
        if len(site.mailbox.messages) >= count and busy is None:
            break
        time.sleep(0.05)
    time.sleep(0.5)  # a copy sent twice over loopback would be in by now
    messages = site.mailbox.messages
    assert len(messages) >= count, f"{what}: {len(messages)} of {count} arrived"
    return messages


def _each_background_job_runs_once(site: Site) -> None:
    # Sign-ups alternate between the machines; each commit queues a job for either worker.
    emails = [f"newcomer{n}@example.com" for n in range(SIGN_UPS)]
    for n, email in enumerate(emails):
        visitor = site.visitor(site.a if n % 2 == 0 else site.b)
        response = visitor.submit(
            "/sign-up",
            "/sign-up",
            {
                "email": email,
                "display_name": f"Newcomer {n}",
                "password": PASSWORD,
                "accept_guidelines": "y",
            },
        )
        assert (response.status, response.location) == (303, "/sign-up/check-email"), email

    received = _settled_mail(site, SIGN_UPS, "confirmations")
    assert sorted(str(m["To"]) for m in received) == emails, "one confirmation each"
    assert all(str(m["Subject"]).startswith("Confirm") for m in received), [
        str(m["Subject"]) for m in received
    ]

    # Cron runs on both machines at the same moment.
    commands = [
        subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "portal", "digest", "send"],
            cwd=ROOT,
            env=site.machine_env(name),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in "ab"
    ]
    outputs = [command.communicate(timeout=60)[0] for command in commands]
    assert [command.returncode for command in commands] == [0, 0], outputs
    queued = [int(re.search(r"Queued (\d+) digest", output)[1]) for output in outputs]
    assert sum(queued) == len(site.follower_emails), outputs

    messages = _settled_mail(site, SIGN_UPS + len(site.follower_emails), "digests")
    digests = Counter(str(m["To"]) for m in messages if "digest" in str(m["Subject"]))
    assert digests == Counter(site.follower_emails), "one digest each"
    assert len(messages) == SIGN_UPS + len(site.follower_emails), "nothing else, nothing twice"

    rows = db.session.execute(select(OutboxMessage.status, OutboxMessage.attempts)).all()
    sent_first_time = Counter({(OutboxStatus.SENT, 1): len(messages)})
    assert Counter(rows) == sent_first_time, "each sent at first try"
    assert [worker.poll() for worker in site.workers] == [None, None], "both workers ran"


# --- All of it, on one deployment ------------------------------------------------------------


def test_two_servers_act_as_one_site(site):
    """One test, as starting the deployment takes most of the time. Each step is a function
    of its own, so a failure names it; the shared cache's step is last, so that the others
    have run whatever it finds."""
    _a_vote_through_a_shows_at_once_through_b(site)
    _a_session_from_a_works_on_b_and_ends_on_both(site)
    _sign_in_failures_through_a_count_on_b(site)
    _each_background_job_runs_once(site)
    _an_anonymous_page_made_by_a_is_served_by_b(site)
