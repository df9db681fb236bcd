"""Who delivers the outbox (email and webhooks), and when: started by each commit that adds to it.

By MAIL_DELIVERY:
- "rq": with REDIS_URL, a commit enqueues a job for `flask --app portal worker` (RQ), which
  also sweeps the outbox for retries and anything a lost job missed;
- "thread": a background thread in each app server (started by wsgi.py), woken by commits
  and sweeping every MAIL_SWEEP_SECONDS: what `make run` uses without Redis;
- "inline": after the request (or by calling deliver_due()); what the tests use.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask, Response, current_app, g, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.extensions import db, redis_client
from portal.mail import outbox, webhooks
from portal.mail.outbox import CHANGED

if TYPE_CHECKING:
    from rq import Queue

log = logging.getLogger(__name__)

QUEUE_NAME = "portal-mail"
JOB = "portal.mail.delivery.run_job"
_wake = threading.Event()


# Other queued work the same workers do, registered by services (data exports): each is
# called with no arguments and returns how many rows it finished, claiming rows with
# portal.mail.leases like the outbox.
_QUEUES: list[Callable[[], int]] = []


def also_deliver(work: Callable[[], int]) -> Callable[[], int]:
    """Run this with every delivery round (a decorator); a queue that has rows to do marks its
    transaction with outbox.outbox_changed() so the commit starts a round."""
    if work not in _QUEUES:
        _QUEUES.append(work)
    return work


def deliver_due() -> int:
    """Send every email and webhook delivery that is due, and do the other queued work; how
    many went out."""
    done = other_work()  # first: an export's email goes out in this round
    return done + outbox.deliver_due() + webhooks.deliver_due()


def other_work() -> int:
    """Do the registered queues' due work (see also_deliver); how many rows were finished."""
    return sum(work() for work in _QUEUES)


def delivery_mode() -> str:
    mode: str = current_app.config["MAIL_DELIVERY"]
    if mode:
        return mode
    return "rq" if current_app.config["REDIS_URL"] else "thread"


@event.listens_for(Session, "after_commit")
def _deliver_after_commit(session: Session) -> None:
    if session.info.pop(CHANGED, False):
        kick()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(CHANGED, None)


def kick() -> None:
    """Something was added to the outbox and committed: get it delivered."""
    mode = delivery_mode()
    if mode == "rq":
        try:
            _queue().enqueue(JOB, job_id=f"outbox-{secrets.token_hex(8)}", result_ttl=0)
        except Exception:
            # Redis is down or stalled (its client gives up after a couple of seconds): the
            # message waits in the outbox for the worker's next sweep.
            log.exception("could not enqueue email delivery; the next sweep will send it")
    elif mode == "thread":
        _wake.set()
    elif has_request_context():
        g.portal_deliver_outbox = True  # after the response is built (see init_app)
    # else: a script or a test calls deliver_due() itself


def init_app(app: Flask) -> None:
    @app.after_request
    def _deliver_inline(response: Response) -> Response:
        if g.pop("portal_deliver_outbox", False):
            try:
                deliver_due()
            except Exception:
                db.session.rollback()
                log.exception("inline email delivery failed")
        return response


# --- Background thread (no Redis) ----------------------------------------------------------


def start_background_delivery(app: Flask) -> threading.Thread | None:
    """Deliver in a daemon thread of this process; a no-op unless MAIL_DELIVERY is thread."""
    with app.app_context():
        if delivery_mode() != "thread":
            return None
        interval = app.config["MAIL_SWEEP_SECONDS"]

    def run() -> None:
        while True:
            _wake.wait(timeout=interval)
            _wake.clear()
            try:
                with app.app_context():
                    deliver_due()
                    db.session.remove()
            except Exception:
                log.exception("background email delivery failed")

    thread = threading.Thread(target=run, name="portal-mail", daemon=True)
    thread.start()
    return thread


def deliver_in_each_server_process(app: Flask) -> None:
    """For wsgi.py: start the delivery thread in each server process on its first request.

    Started lazily, not at import, so a server that forks after loading the app (gunicorn
    --preload) still gets one thread per worker, and commands like `flask db upgrade` none.
    """
    started: dict[int, threading.Thread | None] = {}
    lock = threading.Lock()

    @app.before_request
    def _start_delivery_thread() -> None:
        pid = os.getpid()
        if pid not in started:
            with lock:
                if pid not in started:
                    started[pid] = start_background_delivery(app)


# --- RQ (with Redis) -----------------------------------------------------------------------

_worker_app: Flask | None = None


def _queue() -> Queue:
    return _queue_at(current_app.config["REDIS_URL"])


@functools.cache
def _queue_at(redis_url: str) -> Queue:
    """One queue per process and URL, on the app's Redis client: its timeouts mean a stalled
    Redis costs a commit a couple of seconds, not the request."""
    from rq import Queue  # here, not at the top: importing rq takes most of a second

    return Queue(QUEUE_NAME, connection=redis_client(redis_url))


def run_job() -> int:
    """The RQ job: deliver whatever is due (several jobs at once are safe: rows are claimed)."""
    # The job outlives any one app context, so it holds the app itself, not the proxy (whose
    # _get_current_object the type stubs do not declare).
    app = _worker_app or current_app._get_current_object()  # type: ignore[attr-defined]
    with app.app_context():
        try:
            return deliver_due()
        finally:
            db.session.remove()


def run_worker(app: Flask, *, burst: bool = False) -> None:
    """`flask --app portal worker`: run RQ jobs, and sweep for retries every little while."""
    from redis import Redis
    from rq import Queue, SimpleWorker

    global _worker_app
    _worker_app = app
    queue = _queue()
    interval = app.config["MAIL_SWEEP_SECONDS"]
    stop = threading.Event()

    def sweep() -> None:
        while not stop.wait(timeout=interval):
            try:
                queue.enqueue(JOB, result_ttl=0)
            except Exception:
                log.exception("could not enqueue the outbox sweep")

    queue.enqueue(JOB, result_ttl=0)  # whatever waited while we were down
    if not burst:
        threading.Thread(target=sweep, name="portal-mail-sweep", daemon=True).start()
    # The worker blocks on Redis for minutes waiting for jobs and raises its connection's
    # socket timeout to match, so it gets a connection of its own, not the shared client.
    listening = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2)
    try:
        SimpleWorker([Queue(QUEUE_NAME, connection=listening)], connection=listening).work(
            burst=burst
        )
    finally:
        stop.set()
