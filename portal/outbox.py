"""Delivering the outbox: at least once, never lost, retried with back-off.

Each message is claimed before it is sent: one UPDATE moves it from pending to sending with
a lease, so two workers never send the same message; it is marked sent in the transaction
after the send. A worker that dies mid-batch leaves its claimed message to the lease, after
which another worker sends it; messages it had not reached are still pending. (A crash in
the instant between the SMTP server accepting a message and the row being marked sent can
send that one message again, with the same Message-ID, which mail systems recognise.)

Who delivers, by MAIL_DELIVERY:
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
import smtplib
import ssl
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path

from flask import Flask, current_app, g, has_request_context
from sqlalchemy import and_, or_, select, update

from portal.extensions import db
from portal.models import OutboxMessage
from portal.models.types import utcnow

log = logging.getLogger(__name__)

QUEUE_NAME = "portal-mail"
_wake = threading.Event()


# --- Sending -------------------------------------------------------------------------------


def outbox_folder() -> Path:
    return Path(current_app.instance_path) / "mail" / "outbox"


def transport_send(msg: EmailMessage) -> None:
    """Hand one message to the SMTP server, or with none configured write it as an .eml file."""
    cfg = current_app.config
    if not cfg["MAIL_SERVER"]:
        folder = outbox_folder()
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(4)}.eml"
        (folder / name).write_bytes(bytes(msg))
        log.info("email to %s written to %s", msg["To"], folder / name)
        return
    security = cfg["MAIL_SECURITY"]
    context = ssl.create_default_context()
    smtp_class = smtplib.SMTP_SSL if security == "tls" else smtplib.SMTP
    kwargs = {"context": context} if security == "tls" else {}
    timeout = cfg["MAIL_TIMEOUT_SECONDS"]
    with smtp_class(cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), timeout=timeout, **kwargs) as smtp:
        if security == "starttls":
            smtp.starttls(context=context)
        if cfg["MAIL_USERNAME"]:
            smtp.login(str(cfg["MAIL_USERNAME"]), str(cfg["MAIL_PASSWORD"] or ""))
        smtp.send_message(msg)


def _message_for(row: OutboxMessage) -> EmailMessage | None:
    """The message to send: stored at queueing time, or composed now. None: nothing to send."""
    if row.body is not None and row.kind not in ("notification", "digest"):
        return message_from_string(row.body, policy=policy.default)
    from portal.services import emails

    return emails.compose_for(row)


def _claim(row_id: int) -> bool:
    now = utcnow()
    lease = timedelta(seconds=current_app.config["MAIL_LEASE_SECONDS"])
    claimed = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            or_(
                and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
                and_(OutboxMessage.status == "sending", OutboxMessage.locked_until < now),
            ),
        )
        .values(status="sending", locked_until=now + lease, attempts=OutboxMessage.attempts + 1)
    ).rowcount
    db.session.commit()
    return claimed == 1


def retry_delay(attempts: int) -> timedelta:
    delays = current_app.config["MAIL_RETRY_DELAYS"]
    return timedelta(seconds=delays[min(attempts, len(delays)) - 1])


def deliver(row_id: int) -> str | None:
    """Send one message if it is due and nobody else has it; the status it ends in."""
    if not _claim(row_id):
        return None
    row = db.session.get(OutboxMessage, row_id)
    try:
        msg = _message_for(row)
        if msg is not None:
            # The same Message-ID every time this row is sent, so a resend after a crash is
            # recognised as the same message.
            if row.message_id:
                msg.replace_header("Message-ID", row.message_id)
            else:
                row.message_id = str(msg["Message-ID"] or "")
        db.session.commit()  # hold no transaction (SQLite: no write lock) while SMTP talks
        if msg is not None:
            transport_send(msg)
    except Exception as exc:
        db.session.rollback()
        row = db.session.get(OutboxMessage, row_id)
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        row.locked_until = None
        if row.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
            row.status = "failed"
            log.error("gave up on email %s to %s: %s", row.id, row.to_address, row.last_error)
        else:
            row.status = "pending"
            row.next_attempt_at = utcnow() + retry_delay(row.attempts)
            log.warning("email %s failed, retrying later: %s", row.id, row.last_error)
        db.session.commit()
        return row.status
    row.locked_until = None
    if msg is None:
        row.status = "skipped"  # e.g. its idea was hidden, or the person turned the kind off
    else:
        row.status = "sent"
        row.sent_at = utcnow()
        if row.kind in ("notification", "digest"):
            row.subject = str(msg["Subject"] or "")[:300]
            row.body = msg.as_string()  # what was sent, for the admins' outbox page
        elif row.kind in _secret_kinds() and current_app.config["MAIL_SERVER"]:
            row.body = None  # it held a one-time link, and now it is in the person's mailbox
    db.session.commit()
    return row.status


def _secret_kinds():
    from portal.mail import SECRET_KINDS

    return SECRET_KINDS


def due_ids(limit: int = 200) -> list[int]:
    now = utcnow()
    return list(
        db.session.scalars(
            select(OutboxMessage.id)
            .where(
                or_(
                    and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
                    and_(OutboxMessage.status == "sending", OutboxMessage.locked_until < now),
                )
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
    )


def deliver_due(limit: int = 200) -> int:
    """Send what is due, oldest first; how many were sent."""
    ids = due_ids(limit)
    db.session.commit()
    return sum(1 for row_id in ids if deliver(row_id) == "sent")


def retry(row: OutboxMessage) -> None:
    """An admin sends a message that gave up once more."""
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = utcnow()
    row.locked_until = None
    from portal.mail import outbox_changed

    outbox_changed()


# --- Starting delivery after a commit ------------------------------------------------------


def delivery_mode() -> str:
    mode = current_app.config["MAIL_DELIVERY"]
    if mode:
        return mode
    return "rq" if current_app.config["REDIS_URL"] else "thread"


def kick() -> None:
    """Something was added to the outbox and committed: get it delivered."""
    mode = delivery_mode()
    if mode == "rq":
        try:
            _queue().enqueue(
                "portal.outbox.run_job", job_id=f"outbox-{secrets.token_hex(8)}", result_ttl=0
            )
        except Exception:
            log.exception("could not enqueue email delivery; the next sweep will send it")
    elif mode == "thread":
        _wake.set()
    elif has_request_context():
        g.portal_deliver_outbox = True  # after the response is built (see init_app)
    # else: a script or a test calls deliver_due() itself


def init_app(app: Flask) -> None:
    @app.after_request
    def _deliver_inline(response):
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


def _queue():
    return _queue_at(current_app.config["REDIS_URL"])


@functools.cache
def _queue_at(redis_url: str):
    """One queue, and so one Redis connection pool, per process and URL; not one per commit."""
    from redis import Redis
    from rq import Queue

    return Queue(QUEUE_NAME, connection=Redis.from_url(redis_url))


def run_job() -> int:
    """The RQ job: deliver whatever is due (several jobs at once are safe: rows are claimed)."""
    app = _worker_app or current_app._get_current_object()
    with app.app_context():
        try:
            return deliver_due()
        finally:
            db.session.remove()


def run_worker(app: Flask, *, burst: bool = False) -> None:
    """`flask --app portal worker`: run RQ jobs, and sweep for retries every little while."""
    from rq import SimpleWorker

    global _worker_app
    _worker_app = app
    queue = _queue()
    interval = app.config["MAIL_SWEEP_SECONDS"]
    stop = threading.Event()

    def sweep() -> None:
        while not stop.wait(timeout=interval):
            try:
                queue.enqueue("portal.outbox.run_job", result_ttl=0)
            except Exception:
                log.exception("could not enqueue the outbox sweep")

    queue.enqueue("portal.outbox.run_job", result_ttl=0)  # whatever waited while we were down
    if not burst:
        threading.Thread(target=sweep, name="portal-mail-sweep", daemon=True).start()
    try:
        SimpleWorker([queue], connection=queue.connection).work(burst=burst)
    finally:
        stop.set()
