"""Delivering email from the outbox: written with its cause, sent once, never lost or doubled.

The proof of issue 6's "Delivering in the background, losing nothing". An outbox row commits
or rolls back with whatever caused it. With Redis, a commit enqueues an RQ job and
`flask --app portal worker` (a real process) sends through a real SMTP server (aiosmtpd on
loopback); a worker killed mid-batch leaves its message to a lease and the next worker, so
every message arrives exactly once; two workers at once never send one twice. Without Redis a
thread in the app server delivers. Failures are retried with back-off and then given up, where
admins see them.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import secrets
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import redis
from aiosmtpd.controller import Controller
from flask import Flask
from rq import Queue
from sqlalchemy import create_engine, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from portal import create_app
from portal.extensions import db
from portal.mail import delivery, outbox
from portal.mail.compose import compose, external_url
from portal.models import Follow, Idea, Notification, OutboxMessage, OutboxStatus, Role, User
from portal.models.types import utcnow
from portal.services import accounts, catalog, ideas, pipeline

from . import dbutil
from .helpers import page_text
from .servers import (
    Browser,
    FlaskRun,
    Gunicorn,
    Response,
    flask_command,
    free_port,
    private_redis_database,
    server_environment,
    start_flask,
    stop_process_group,
)

# --- A real SMTP server on loopback ------------------------------------------------------------

# Called with (how many RCPT commands this server has seen, the address); a reply refuses it.
RcptHook = Callable[[int, str], Awaitable[str | None]]


class Mailbox:
    """What the test's SMTP servers accepted, in order, with the port each came in on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[tuple[int, EmailMessage]] = []

    def add(self, port: int, message: EmailMessage) -> None:
        with self._lock:
            self._received.append((port, message))

    @property
    def received(self) -> list[tuple[int, EmailMessage]]:
        with self._lock:
            return list(self._received)

    @property
    def messages(self) -> list[EmailMessage]:
        return [message for _, message in self.received]

    def recipients(self) -> list[str]:
        return sorted(str(message["To"]) for message in self.messages)

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


class RecordingHandler:
    """An aiosmtpd handler that keeps every message it accepts; hooks can stall or refuse."""

    def __init__(
        self,
        mailbox: Mailbox,
        port: int,
        *,
        on_rcpt: RcptHook | None = None,
        on_data: Callable[[], str | None] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.mailbox = mailbox
        self.port = port
        self.on_rcpt = on_rcpt
        self.on_data = on_data
        self.delay = delay
        self.rcpts = 0  # one per delivery attempt that reached this server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts += 1
        if self.on_rcpt is not None:
            reply = await self.on_rcpt(self.rcpts, address)
            if reply:
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.on_data is not None:
            reply = self.on_data()
            if reply:
                return reply
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.mailbox.add(self.port, message)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    port: int
    handler: RecordingHandler

    @property
    def mailbox(self) -> Mailbox:
        return self.handler.mailbox


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """smtp_server(mailbox=None, port=None, on_rcpt=, on_data=, delay=) -> aiosmtpd on 127.0.0.1.

    Servers given one Mailbox record into it together. Each is stopped after the test.
    """
    controllers: list[Controller] = []

    def start(mailbox: Mailbox | None = None, *, port: int | None = None, **hooks) -> SmtpServer:
        port = port or free_port()
        handler = RecordingHandler(mailbox or Mailbox(), port, **hooks)
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return SmtpServer(port, handler)

    yield start
    for controller in controllers:
        controller.stop()


def _send_through(app: Flask, port: int, **settings) -> None:
    """Point this process's app at the test's SMTP server."""
    app.config.update(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_SECURITY="none", MAIL_TIMEOUT_SECONDS=10
    )
    app.config.update(settings)


def _wait_until(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _rows() -> list:
    """The outbox as committed now, read as another process would: taking no lock at all.

    A worker may hold SQLite's write lock (see test_a_slow_mail_server_...), and outside
    requests this process's own transactions take it up front. Plain rows, too: an expired
    ORM object touched later would open a transaction, and take that lock.
    """
    db.session.commit()
    table = OutboxMessage.__table__
    engine = create_engine(db.engine.url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(*table.c).order_by(table.c.id)).all()
    finally:
        engine.dispose()


# --- The outbox row is part of its cause's transaction ------------------------------------------


def test_the_outbox_row_becomes_visible_with_its_cause_and_goes_with_its_rollback(app, make_user):
    user = make_user()
    user_id = user.id
    other_process = create_engine(db.engine.url)  # plain: its reads take no lock

    def committed() -> tuple[int, str | None]:
        """What another process (the worker, say) sees."""
        with other_process.connect() as other:
            rows = other.scalar(select(func.count()).select_from(OutboxMessage))
            token = other.scalar(select(User.reset_token_hash).where(User.id == user_id))
        return rows, token

    accounts.request_password_reset(user.email, ip=None)
    db.session.flush()  # written to the database, in this transaction
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert committed() == (0, None)

    # Something later in the same transaction fails: the message goes with everything else.
    db.session.add(
        User(email=user.email, display_name="Duplicate", password_hash="x", role="customer")
    )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()
    assert committed() == (0, None)
    assert _rows() == []

    accounts.request_password_reset(user.email, ip=None)
    db.session.commit()
    # The request records the address only; the link is made when the message is composed.
    assert committed() == (1, None)
    (row,) = _rows()
    assert (row.kind, row.to_address, row.user_id) == ("reset_password", user.email, None)

    assert outbox.deliver_due() == 1
    rows, token = committed()
    other_process.dispose()
    assert rows == 1
    assert token is not None
    (row,) = _rows()
    assert (row.kind, row.to_address, row.user_id) == ("reset_password", user.email, user.id)


def _follow(idea: Idea, *people: User) -> None:
    db.session.add_all(Follow(idea_id=idea.id, user_id=person.id) for person in people)
    db.session.commit()


def test_a_bulk_move_that_cannot_go_whole_writes_no_notification_and_no_email(
    client, login_as, make_user, make_idea, stages, outbox
):
    login_as("product_manager")
    movable = make_idea("An idea that could move")
    already = make_idea("An idea already there", stage="under_review")
    followers = [make_user(), make_user()]
    _follow(movable, *followers)
    _follow(already, *followers)

    outbox_inserts: list[str] = []

    def watch(conn, cursor, statement, *args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            outbox_inserts.append(statement)

    event.listen(db.engine, "before_cursor_execute", watch)
    try:
        response = client.post(
            "/team/triage/move",
            data={
                "idea_ids": [str(movable.id), str(already.id)],
                "stage_id": str(stages["under_review"].id),
                "note": "Both are now under review with the team.",
            },
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", watch)
    # Every idea is checked before any moves: the review names the one that would stay, and
    # not one email is written (before, the first idea's were written and rolled back).
    assert response.status_code == 200
    assert "Nothing has moved yet" in response.text
    assert outbox_inserts == []
    assert db.session.get(Idea, movable.id).stage.slug == "new"
    assert db.session.scalar(select(func.count(Notification.id))) == 0
    assert _rows() == []
    assert outbox.messages() == []


def test_every_committed_cause_has_exactly_one_outbox_row(
    client, login_as, make_user, make_idea, stages, outbox
):
    existing = make_user(email="taken@example.com")
    unconfirmed = make_user(email="unconfirmed@example.com", verified=False)
    forgetful = make_user(email="forgetful@example.com")
    follower = make_user(email="follower@example.com")

    def post(path: str, data: dict) -> None:
        ip = f"10.9.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
        response = client.post(path, data=data, environ_base={"REMOTE_ADDR": ip})
        assert response.status_code == 303, (path, response.status_code)

    new_person = {"display_name": "Jo New", "password": "a long new passphrase"}
    post("/sign-up", {"email": "new@example.com", **new_person, "accept_guidelines": "y"})
    post("/sign-up", {"email": existing.email, **new_person, "accept_guidelines": "y"})
    post("/confirm/resend", {"email": unconfirmed.email})
    post("/password/forgot", {"email": forgetful.email})
    # No account: a row all the same (the request must cost the same), and no message.
    post("/password/forgot", {"email": "nobody@example.com"})

    login_as("product_manager")
    idea = make_idea("An idea to move", author=follower)  # its author follows it
    post(
        "/team/triage/move",
        {
            "idea_ids": [str(idea.id)],
            "stage_id": str(stages["planned"].id),
            "note": "Planned for the spring release, with the finance team.",
        },
    )

    rows = _rows()
    assert sorted((row.kind, row.to_address) for row in rows) == sorted(
        [
            ("verify_email", "new@example.com"),
            ("signup_existing", existing.email),
            ("verify_email", unconfirmed.email),
            ("reset_password", forgetful.email),
            ("reset_password", "nobody@example.com"),
            ("notification", follower.email),
        ]
    )
    # Delivered inline after each request (the tests' MAIL_DELIVERY), once each.
    sent = [row for row in rows if row.to_address != "nobody@example.com"]
    assert {row.status for row in sent} == {OutboxStatus.SENT}
    assert [row.status for row in rows if row not in sent] == [OutboxStatus.SKIPPED]
    assert sorted(str(m["To"]) for m in outbox.messages()) == sorted(r.to_address for r in sent)


# --- Redis and the RQ worker, as real processes ------------------------------------------------


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database of this test's own (RQ's keys take no prefix), emptied afterwards."""
    with private_redis_database() as url:
        yield url


@dataclass
class Site:
    """A deployment: a migrated database and Redis, with this process's app on them."""

    app: Flask
    env: dict[str, str]
    redis: redis.Redis

    def queue(self) -> Queue:
        return Queue(delivery.QUEUE_NAME, connection=self.redis)

    def worker_env(self, mail_port: int, **settings: str) -> dict[str, str]:
        return {
            **self.env,
            "PORTAL_MAIL_SERVER": "127.0.0.1",
            "PORTAL_MAIL_PORT": str(mail_port),
            "PORTAL_MAIL_SECURITY": '"none"',
            "PORTAL_MAIL_SWEEP_SECONDS": "1",
            **settings,
        }


@pytest.fixture
def site(tmp_path, monkeypatch, redis_url) -> Iterator[Site]:
    instance = tmp_path / "instance"
    with dbutil.fresh_database(tmp_path, "mail") as database_url:
        env = server_environment(
            PORTAL_INSTANCE_PATH=str(instance),
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            PORTAL_BASE_URL="http://portal.test",
            PORTAL_RATELIMIT_STORAGE_URI="memory://",  # Redis holds the job queue only
        )
        flask_command(env, "db", "upgrade")
        monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(instance))  # the same secret key
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database_url,
                "REDIS_URL": redis_url,
                "RATELIMIT_STORAGE_URI": "memory://",
                "BASE_URL": "http://portal.test",
            }
        )
        connection = redis.Redis.from_url(redis_url)
        with app.app_context():
            try:
                yield Site(app, env, connection)
            finally:
                db.session.remove()
                db.engine.dispose()
                connection.close()


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def finish(self, timeout: float = 45) -> None:
        """Wait for a --burst worker to empty the queue and stop."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process_group(self.process)
            raise AssertionError(f"worker {self.name} did not finish:\n{self.log()}") from None
        assert self.process.returncode == 0, f"worker {self.name} failed:\n{self.log()}"


@pytest.fixture
def start_worker(site, tmp_path) -> Iterator[Callable[..., Worker]]:
    """start_worker(name, mail_port, **PORTAL_settings) -> `flask --app portal worker --burst`."""
    started: list[Worker] = []

    def start(name: str, mail_port: int, **settings: str) -> Worker:
        db.session.commit()  # this process holds no lock the worker would wait for
        log_path = tmp_path / f"worker-{name}.log"
        env = site.worker_env(mail_port, **settings)
        worker = Worker(name, start_flask(env, "worker", "--burst", log_path=log_path), log_path)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        stop_process_group(worker.process)
        print(f"--- worker {worker.name} (exit {worker.process.returncode}) ---\n{worker.log()}")


def _add_people(label: str, count: int, *, verified=True, role=Role.CUSTOMER) -> list[User]:
    now = utcnow()
    people = [
        User(
            email=f"{label}{n}@example.com",
            display_name=f"{label.title()} {n}",
            password_hash="nobody signs in here",
            role=Role(role).value,
            email_verified_at=now if verified else None,
            guidelines_accepted_at=now,
        )
        for n in range(count)
    ]
    db.session.add_all(people)
    db.session.flush()
    return people


IDEA_TITLE = "Export reports to Excel"


def _move_an_idea_they_follow(followers: list[User]) -> None:
    """A product manager moves an idea these people follow: one notification email each."""
    (pm,) = _add_people("pm", 1, role=Role.PRODUCT_MANAGER)
    idea = ideas.submit_idea(
        author=pm, title=IDEA_TITLE, problem="Our finance team copies numbers by hand every month."
    )
    db.session.add_all(Follow(idea_id=idea.id, user_id=person.id) for person in followers)
    db.session.flush()
    pipeline.move_stage(
        idea,
        catalog.stage_by_slug("under_review"),
        actor=pm,
        note="We are looking into this with the finance team.",
        ip=None,
    )


@pytest.mark.slow
def test_a_commit_enqueues_a_job_and_the_worker_delivers_through_smtp(
    site, smtp_server, start_worker
):
    queue = site.queue()
    assert delivery.delivery_mode() == "rq"  # the default with REDIS_URL
    (customer,) = _add_people("customer", 1)
    followers = _add_people("follower", 2)
    db.session.commit()
    assert queue.count == 0, "a commit without email should enqueue nothing"

    accounts.request_password_reset(customer.email, ip=None)
    db.session.rollback()
    customer.display_name = "Renamed Customer"
    db.session.commit()  # the rolled-back message must not ride on the next commit
    assert queue.count == 0
    assert _rows() == []

    accounts.request_password_reset(customer.email, ip=None)
    assert queue.count == 0, "nothing may be enqueued before the message is committed"
    db.session.commit()
    assert [job.func_name for job in queue.jobs] == ["portal.mail.delivery.run_job"]
    _move_an_idea_they_follow(followers)
    db.session.commit()
    assert queue.count == 2
    assert {row.status for row in _rows()} == {OutboxStatus.PENDING}

    server = smtp_server()
    start_worker("only", server.port).finish()

    assert server.mailbox.recipients() == sorted([customer.email, *(f.email for f in followers)])
    by_address = {str(m["To"]): m for m in server.mailbox.messages}
    reset = by_address[customer.email]
    assert str(reset["Subject"]).startswith("Reset your password")
    assert "http://portal.test/password/reset/" in reset.get_body(("plain",)).get_content()
    notice = by_address[followers[0].email]
    assert IDEA_TITLE in str(notice["Subject"])
    assert "Under review" in str(notice["Subject"])
    rows = _rows()
    assert [(row.status, row.attempts) for row in rows] == [(OutboxStatus.SENT, 1)] * 3
    assert {row.message_id for row in rows} == {str(m["Message-ID"]) for m in by_address.values()}
    assert queue.count == 0


BATCH = 20
DIES_AT = 15  # the worker is killed while the SMTP server keeps this message waiting


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(site, smtp_server, start_worker):
    newcomers = _add_people("newcomer", 10, verified=False)
    followers = _add_people("follower", 10)
    for person in newcomers:
        accounts.resend_verification(person.email)
    db.session.flush()
    _move_an_idea_they_follow(followers)  # composed when sent, by the worker
    db.session.commit()
    addresses = sorted(person.email for person in newcomers + followers)
    assert len(_rows()) == BATCH

    stalled = threading.Event()

    async def stall(n: int, address: str) -> str | None:
        if n == DIES_AT:
            stalled.set()
            await asyncio.sleep(3600)  # no answer; cancelled when the worker's connection drops
        return None

    server = smtp_server(on_rcpt=stall)
    lease = {"PORTAL_MAIL_LEASE_SECONDS": "1"}
    first = start_worker("first", server.port, **lease)
    assert stalled.wait(30), f"the worker never reached message {DIES_AT}:\n{first.log()}"

    # The moment it dies: 14 delivered and marked, one claimed and in flight, five untouched.
    assert len(server.mailbox.messages) == DIES_AT - 1
    assert Counter(row.status for row in _rows()) == Counter(
        sent=DIES_AT - 1, sending=1, pending=BATCH - DIES_AT
    )
    stop_process_group(first.process, signal.SIGKILL)
    assert first.process.returncode == -signal.SIGKILL

    (in_flight,) = [row for row in _rows() if row.status == OutboxStatus.SENDING]
    # Nobody may take the claimed message until its lease is over.
    time.sleep(max(0.0, (in_flight.locked_until - utcnow()).total_seconds()) + 0.3)
    second = start_worker("second", server.port, **lease)
    second.finish()

    messages = server.mailbox.messages
    assert server.mailbox.recipients() == addresses, "every message exactly once"
    assert len({str(m["Message-ID"]) for m in messages}) == BATCH
    rows = _rows()
    assert {row.status for row in rows} == {OutboxStatus.SENT}
    assert {row.id: row.attempts for row in rows if row.attempts != 1} == {in_flight.id: 2}
    received_ids = {str(m["To"]): str(m["Message-ID"]) for m in messages}
    assert {row.to_address: row.message_id for row in rows} == received_ids


@pytest.mark.slow
def test_two_workers_at_once_never_send_a_message_twice(site, smtp_server, start_worker):
    people = _add_people("customer", 30, verified=False)
    for person in people:
        accounts.resend_verification(person.email)
    db.session.commit()
    addresses = sorted(person.email for person in people)

    # Each worker gets its own SMTP server, so each message says which worker sent it. Each
    # server holds its first message until the other worker is sending too, so they overlap.
    mailbox = Mailbox()
    sending = {"a": threading.Event(), "b": threading.Event()}
    met: list[str] = []

    def meet(mine: str, other: str) -> RcptHook:
        async def hook(n: int, address: str) -> str | None:
            sending[mine].set()
            deadline = time.monotonic() + 6
            while n == 1 and time.monotonic() < deadline:
                if sending[other].is_set():
                    met.append(mine)
                    break
                await asyncio.sleep(0.02)
            return None

        return hook

    server_a = smtp_server(mailbox, on_rcpt=meet("a", "b"), delay=0.02)
    server_b = smtp_server(mailbox, on_rcpt=meet("b", "a"), delay=0.02)
    long_lease = {"PORTAL_MAIL_LEASE_SECONDS": "120"}  # longer than any send takes
    worker_a = start_worker("a", server_a.port, **long_lease)
    worker_b = start_worker("b", server_b.port, **long_lease)
    worker_a.finish()
    worker_b.finish()

    assert mailbox.recipients() == addresses, "every message exactly once"
    rows = _rows()
    assert [(row.status, row.attempts) for row in rows] == [(OutboxStatus.SENT, 1)] * len(people)

    per_server = Counter(port for port, _ in mailbox.received)
    assert sorted(met) == ["a", "b"], "the two workers should have been sending at once"
    assert per_server[server_a.port] and per_server[server_b.port], per_server


def test_a_stalled_redis_costs_a_commit_seconds_and_the_email_waits_in_the_outbox(
    another_app, app, make_user, silent_server
):
    """Redis accepts the connection and never answers: the commit that queues an email gives
    up on the job within the Redis client's timeout, not never, and the message stays in the
    outbox for the worker's next sweep."""
    stalled = another_app(REDIS_URL=f"redis://127.0.0.1:{silent_server}", MAIL_DELIVERY="rq")
    email = make_user().email
    db.session.commit()  # and hold no lock the other app would wait for
    with stalled.app_context():
        accounts.request_password_reset(email, ip=None)
        started = time.monotonic()
        db.session.commit()  # enqueues the delivery job after the commit: Redis is silent
        waited = time.monotonic() - started
        (row,) = _rows()
        assert (row.status, row.attempts, row.to_address) == (OutboxStatus.PENDING, 0, email)

    assert 1.5 < waited < 5, f"the commit waited {waited:.1f} s for Redis"
    # The sweep (here: this app, delivering inline) sends it later.
    assert outbox.deliver_due() == 1
    assert [(row.status, row.attempts) for row in _rows()] == [(OutboxStatus.SENT, 1)]


def test_a_slow_mail_server_does_not_hold_up_the_sites_writes(app, make_user, smtp_server):
    answering = threading.Event()
    waiting = threading.Event()

    async def slow(n: int, address: str) -> None:
        waiting.set()
        while not answering.is_set():
            await asyncio.sleep(0.02)

    server = smtp_server(on_rcpt=slow)
    _send_through(app, server.port)
    user = make_user()
    user_id, email = user.id, user.email
    accounts.request_password_reset(email, ip=None)
    db.session.commit()  # and touch no ORM object after: that would take the lock here

    delivered: list[int | Exception] = []

    def deliver() -> None:  # as the delivery thread or a worker does
        with app.app_context():
            try:
                delivered.append(outbox.deliver_due())
            except Exception as exc:
                delivered.append(exc)
            finally:
                db.session.remove()

    sender = threading.Thread(target=deliver)
    sender.start()
    # Someone else writes while the mail server takes its time: a request, another worker.
    sqlite = db.engine.dialect.name == "sqlite"
    other = create_engine(
        db.engine.url,
        connect_args={"timeout": 2} if sqlite else {"options": "-c lock_timeout=2000"},
    )
    try:
        assert waiting.wait(10), "the message never reached the mail server"
        with other.begin() as conn:
            conn.execute(
                update(User).where(User.id == user_id).values(display_name="Written meanwhile")
            )
    finally:
        other.dispose()
        answering.set()
        sender.join(20)
    assert delivered == [1]
    assert server.mailbox.recipients() == [email]


# --- Without Redis: a thread in the app server ---------------------------------------------------


@pytest.fixture
def background_delivery(app, monkeypatch) -> Iterator[Callable[[], threading.Thread]]:
    """start() -> the app's delivery thread (MAIL_DELIVERY "thread"); parked after the test.

    The thread lives as long as its server process and has no off switch, so afterwards it is
    parked for good the next time it comes round (a daemon, gone with the test process): it
    must not deliver the next test's messages to this test's stopped SMTP server.
    """
    threads: list[threading.Thread] = []

    def start() -> threading.Thread:
        thread = delivery.start_background_delivery(app)
        assert thread is not None, "MAIL_DELIVERY thread should start a delivery thread"
        threads.append(thread)
        return thread

    yield start
    if not threads:
        return
    parked = threading.Event()
    real_app_context = app.app_context

    def app_context():
        if threading.current_thread() in threads:
            parked.set()
            threading.Event().wait()
        return real_app_context()

    monkeypatch.setattr(app, "app_context", app_context)
    delivery._wake.set()  # bring it round now, not after a sweep interval
    assert parked.wait(10), "the delivery thread did not come round to be parked"


def test_without_redis_a_thread_delivers_a_commit_within_seconds_without_a_request(
    app, make_user, smtp_server, background_delivery
):
    server = smtp_server()
    # The sweep is ten minutes away: only the commit itself can wake the thread in time.
    _send_through(app, server.port, MAIL_DELIVERY="thread", MAIL_SWEEP_SECONDS=600)
    background_delivery()
    user = make_user()

    accounts.request_password_reset(user.email, ip=None)
    db.session.commit()
    committed = time.monotonic()
    messages = server.mailbox.wait_for(1, timeout=5)
    assert [str(m["To"]) for m in messages] == [user.email]
    assert time.monotonic() - committed < 5
    assert _wait_until(lambda: [row.status for row in _rows()] == [OutboxStatus.SENT])
    time.sleep(0.3)
    assert len(server.mailbox.messages) == 1


def test_the_delivery_thread_sweeps_up_what_another_process_committed(
    app, smtp_server, background_delivery
):
    server = smtp_server()
    _send_through(app, server.port, MAIL_DELIVERY="thread", MAIL_SWEEP_SECONDS=1)
    background_delivery()
    message = compose(
        "cron@example.com",
        "Someone tried to sign up with your address",
        "signup_existing",
        user=User(display_name="Cron Reader"),
        sign_in_url=external_url("auth.sign_in"),
        reset_url=external_url("auth.forgot_password"),
    )
    db.session.commit()  # composing read the site's settings
    # Written on a connection of its own, as another process would: nothing wakes the thread.
    now = utcnow()
    with db.engine.begin() as other_process:
        other_process.execute(
            insert(OutboxMessage).values(
                kind="signup_existing",
                to_address="cron@example.com",
                subject=str(message["Subject"]),
                body=message.as_string(),
                message_id=str(message["Message-ID"]),
                status=OutboxStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                payload={},
            )
        )
    messages = server.mailbox.wait_for(1, timeout=6)
    assert [str(m["Message-ID"]) for m in messages] == [str(message["Message-ID"])]
    assert _wait_until(lambda: [row.status for row in _rows()] == [OutboxStatus.SENT])


# --- Failures: retried with back-off, then given up ----------------------------------------------


class Clock:
    """The outbox's idea of now: real time, moved on by the test instead of waiting."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self):
        return utcnow() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(outbox, "utcnow", clock)
    return clock


def _only_row() -> OutboxMessage:
    (row,) = _rows()
    return row


def _close_to(moment, expected) -> bool:
    return abs((moment - expected).total_seconds()) < 1


def test_failures_are_retried_with_back_off_then_given_up_and_shown_to_admins(
    app, client, make_user, login_as, smtp_server, clock
):
    port = free_port()  # the mail server is down: nothing listens there yet
    _send_through(app, port, MAIL_RETRY_DELAYS=[60, 300, 1800], MAIL_MAX_ATTEMPTS=4)
    user = make_user()
    accounts.request_password_reset(user.email, ip=None)
    db.session.commit()

    assert outbox.deliver_due() == 0
    row = _only_row()
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    assert "ConnectionRefusedError" in row.last_error
    assert _close_to(row.next_attempt_at, clock() + timedelta(seconds=60))

    clock.advance(59)
    assert outbox.deliver_due() == 0
    assert _only_row().attempts == 1, "tried again before its back-off was over"

    # The server is back but refuses the message for now.
    async def busy(n: int, address: str) -> str:
        return "451 4.3.0 Mailbox busy, try again later"

    server = smtp_server(port=port, on_rcpt=busy)
    for attempt, delay in ((2, 300), (3, 1800)):
        clock.advance(61 if attempt == 2 else 300)
        assert outbox.deliver_due() == 0
        row = _only_row()
        assert (row.status, row.attempts, server.handler.rcpts) == (
            OutboxStatus.PENDING,
            attempt,
            attempt - 1,
        )
        assert "451" in row.last_error
        assert _close_to(row.next_attempt_at, clock() + timedelta(seconds=delay))

    clock.advance(1800)
    assert outbox.deliver_due() == 0
    row = _only_row()
    assert (row.status, row.attempts, row.locked_until) == (OutboxStatus.FAILED, 4, None)
    clock.advance(30 * 24 * 3600)
    assert outbox.deliver_due() == 0
    assert server.handler.rcpts == 3, "a message that gave up is not tried again by itself"
    assert _only_row().status == OutboxStatus.FAILED
    assert server.mailbox.messages == []

    # Admins see what gave up, and why, and can send it once more.
    login_as("admin")
    page = page_text(client.get("/admin/outbox"))
    gave_up = page.split("Gave up", 1)[1].split("Recent messages", 1)[0]
    assert user.email in gave_up
    assert "451" in gave_up
    assert "Mailbox busy" in gave_up
    server.handler.on_rcpt = None  # the mailbox has room again
    response = client.post(f"/admin/outbox/{row.id}/retry")
    assert response.status_code == 303
    assert server.mailbox.recipients() == [user.email]
    assert (_only_row().status, _only_row().attempts) == (OutboxStatus.SENT, 1)


def test_a_message_refused_once_is_sent_exactly_once_after_its_back_off(
    app, make_user, smtp_server, clock
):
    refusals = iter(["451 4.7.1 Greylisted, come back later"])
    server = smtp_server(on_data=lambda: next(refusals, None))
    _send_through(app, server.port, MAIL_RETRY_DELAYS=[120], MAIL_MAX_ATTEMPTS=3)
    user = make_user()
    accounts.request_password_reset(user.email, ip=None)
    db.session.commit()

    assert outbox.deliver_due() == 0  # the whole message was transferred, then refused
    row = _only_row()
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    assert "Greylisted" in row.last_error
    clock.advance(119)
    assert outbox.deliver_due() == 0
    clock.advance(2)
    assert outbox.deliver_due() == 1
    sent_at = clock()
    clock.advance(3600)
    assert outbox.deliver_due() == 0
    assert server.mailbox.recipients() == [user.email]
    row = _only_row()
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)
    assert _close_to(row.sent_at, sent_at)


# --- Links follow the address the portal is served on --------------------------------------

LINK = re.compile(r"https?://[^\s\"'<>]+")


def _forged_host_post(url: str, path: str, data: dict[str, str], host: str) -> int:
    """A GET then a POST of path's form, both with a forged Host header (host poisoning)."""
    target = urlsplit(url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": host})
        page = connection.getresponse()
        cookie = page.getheader("Set-Cookie", "").split(";", 1)[0]
        fields = Response(page.status, page.headers, page.read().decode()).form(path)
        body = urlencode({**fields, **data})
        connection.request(
            "POST",
            path,
            body=body,
            headers={
                "Host": host,
                "Cookie": cookie,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


@pytest.mark.slow
@pytest.mark.parametrize("serve", [Gunicorn, FlaskRun], ids=["make-run", "flask-run"])
def test_without_base_url_emailed_links_follow_the_port_served_on(tmp_path, smtp_server, serve):
    """`PORT=8000 make run` (gunicorn) or `flask run --port 8000`, and no PORTAL_BASE_URL."""
    mail = smtp_server()
    with dbutil.fresh_database(tmp_path, "served") as database_url:
        env = server_environment(
            PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
            DATABASE_URL=database_url,
            PORTAL_MAIL_SERVER="127.0.0.1",
            PORTAL_MAIL_PORT=str(mail.port),
            PORTAL_MAIL_SECURITY='"none"',
            PORTAL_FORM_MIN_SECONDS="0",  # this visitor fills forms in instantly
        )
        flask_command(env, "db", "upgrade")
        server = serve("served", env, tmp_path)
        assert server.port != 5000
        try:
            server.start().wait_until_serving()
            visitor = Browser(server.url)
            response = visitor.submit(
                "/sign-up",
                "/sign-up",
                {
                    "email": "newcomer@example.com",
                    "display_name": "Nia Newcomer",
                    "password": "a long enough passphrase",
                    "accept_guidelines": "y",
                },
            )
            assert response.status == 303, response.text
            [welcome] = mail.mailbox.wait_for(1, timeout=15)
            links = LINK.findall(welcome.get_body(preferencelist=("plain",)).get_content())
            [confirm] = [link for link in links if "/confirm/" in link]
            assert confirm.startswith(f"{server.url}/confirm/"), confirm
            assert all(link.startswith(server.url + "/") for link in links), links
            # The link opens on this server and confirms the address.
            assert visitor.get(urlsplit(confirm).path).status == 200
            if serve is Gunicorn:  # a production server says so; the development one need not
                assert "PORTAL_BASE_URL is not set" in server.stderr()
                assert f"links in emails and feeds point at {server.url}" in server.stderr()

            # A forged Host header changes nothing: links never come from a request.
            status = _forged_host_post(
                server.url,
                "/password/forgot",
                {"email": "newcomer@example.com"},
                host="evil.example",
            )
            assert status in (302, 303), status
            [_, reset] = mail.mailbox.wait_for(2, timeout=15)
            text = reset.get_body(preferencelist=("plain",)).get_content()
            assert "evil.example" not in text
            assert f"{server.url}/password/reset/" in text

            feed = visitor.get("/feeds/ideas.atom")
            assert f'href="{server.url}/' in feed.text
            assert "127.0.0.1:5000" not in feed.text
        finally:
            server.stop()
            print(server.report())
