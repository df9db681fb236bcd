"""The outbox: email written with its cause, then sent at least once, never lost.

queue_email() stores a message in the outbox table in the same transaction as whatever
caused it, so a crash never loses or duplicates it; portal.mail.delivery starts delivery
after the commit.

Each message is claimed before it is sent: one UPDATE moves it from pending to sending with
a lease, so two workers never send the same message; it is marked sent in the transaction
after the send. A worker that dies mid-batch leaves its claimed message to the lease, after
which another worker sends it; messages it had not reached are still pending. (A crash in
the instant between the SMTP server accepting a message and the row being marked sent can
send that one message again, with the same Message-ID, which mail systems recognise.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from typing import Any

from flask import current_app
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.mail import leases
from portal.mail.compose import IDEA_KINDS, SECRET_KINDS, compose, compose_for
from portal.mail.transport import transport_send
from portal.models import OutboxMessage, OutboxStatus, User
from portal.models.types import utcnow

log = logging.getLogger(__name__)

# Set on a session whose transaction adds to the outbox; portal.mail.delivery reads it.
CHANGED = "portal.outbox_changed"


# --- Queueing ------------------------------------------------------------------------------


def queue_email(
    to: str, subject: str, template: str, *, user: User | None = None, **context: Any
) -> OutboxMessage:
    """Compose a message now and put it in the outbox, in the current transaction."""
    msg = compose(to, subject, template, user=user, **context)
    if user is not None and user.id is None:
        db.session.flush()  # a new account: its id ties the message to it
    row = OutboxMessage(
        kind=template,
        to_address=to,
        user_id=user.id if user is not None else None,
        subject=str(msg["Subject"]),
        body=msg.as_string(),
        message_id=str(msg["Message-ID"]),
    )
    db.session.add(row)
    outbox_changed()
    return row


def queue_request(to: str, kind: str, **payload: Any) -> OutboxMessage:
    """Put a message in the outbox that its kind's composer writes when it is sent
    (compose.composed_at_send_time), in the current transaction. Nothing is looked up or
    rendered here, so the cost of the request does not depend on who the address belongs to."""
    row = OutboxMessage(kind=kind, to_address=to, payload=payload, body=None)
    db.session.add(row)
    outbox_changed()
    return row


def outbox_changed(session: Session | None = None) -> None:
    """Note that this transaction adds to the outbox, so delivery is started after commit."""
    (session or db.session()).info[CHANGED] = True


def retry(row: OutboxMessage) -> None:
    """An admin sends a message that gave up once more."""
    leases.requeue(row, utcnow())
    outbox_changed()


@dataclass
class OutboxFilters:
    """What the admins' outbox page narrows to: part of the recipient's address, a status
    (of the messages that did not give up) and a kind of message."""

    recipient: str = ""
    status: str | None = None
    kind: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        recipient = self.recipient.strip().lower()
        if recipient:
            escaped = recipient.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(func.lower(OutboxMessage.to_address).like(f"%{escaped}%", escape="\\"))
        if self.kind:
            where.append(OutboxMessage.kind == self.kind)
        return where


# The statuses the "Messages" list filters by; failed ones have their own list above it.
LISTED_STATUSES = [s for s in OutboxStatus if s != OutboxStatus.FAILED]


def failed_and_recent(
    filters: OutboxFilters | None = None, *, page_number: int = 1, per_page: int = 50
) -> tuple[list[OutboxMessage], Pagination]:
    """For the admins' outbox page: what gave up (at most 100), and a page of everything else,
    newest first; both narrowed by filters."""
    filters = filters or OutboxFilters()
    where = filters.conditions()
    failed = OutboxMessage.status == OutboxStatus.FAILED
    others = select(OutboxMessage).where(~failed, *where)
    if filters.status in {s.value for s in LISTED_STATUSES}:
        others = others.where(OutboxMessage.status == filters.status)
    recent = db.paginate(
        others.order_by(OutboxMessage.id.desc()),
        page=page_number,
        per_page=per_page,
        error_out=False,
    )
    return _newest(and_(failed, *where), 100), recent


def kinds() -> list[str]:
    """Every kind of message the outbox holds, for the filter's choices."""
    return list(
        db.session.scalars(select(OutboxMessage.kind).distinct().order_by(OutboxMessage.kind))
    )


def _newest(where: ColumnElement[bool], limit: int) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(where).order_by(OutboxMessage.id.desc()).limit(limit)
    return list(db.session.scalars(query).all())


# --- Delivering ----------------------------------------------------------------------------


def due_ids(limit: int = 200) -> list[int]:
    return leases.due_ids(OutboxMessage, utcnow(), limit)


def deliver_due(limit: int = 200) -> int:
    """Send what is due, oldest first; how many were sent."""
    ids = due_ids(limit)
    db.session.commit()
    return sum(1 for row_id in ids if deliver(row_id) == OutboxStatus.SENT)


def retry_delay(attempts: int) -> timedelta:
    return leases.retry_delay(attempts)


def _message_for(row: OutboxMessage) -> EmailMessage | None:
    """The message to send: stored at queueing time, or composed now. None: nothing to send."""
    if row.body is not None and row.kind not in IDEA_KINDS:
        return message_from_string(row.body, policy=policy.default)
    return compose_for(row)


def deliver(row_id: int) -> str | None:
    """Send one message if it is due and nobody else has it; the status it ends in."""
    if not leases.claim(OutboxMessage, row_id, utcnow()):
        return None
    row = db.session.get_one(OutboxMessage, row_id)
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
        return _failed(row_id, exc)
    _sent(row, msg)
    db.session.commit()
    return row.status


def _failed(row_id: int, exc: Exception) -> str:
    """Record a failed attempt: retry after a back-off, or give up after the last one."""
    row = db.session.get_one(OutboxMessage, row_id)
    error = f"{type(exc).__name__}: {exc}"
    max_attempts = current_app.config["MAIL_MAX_ATTEMPTS"]
    if leases.record_failure(row, error, now=utcnow(), max_attempts=max_attempts):
        log.error("gave up on email %s to %s: %s", row.id, row.to_address, row.last_error)
    else:
        log.warning("email %s failed, retrying later: %s", row.id, row.last_error)
    db.session.commit()
    return row.status


def _sent(row: OutboxMessage, msg: EmailMessage | None) -> None:
    row.locked_until = None
    if msg is None:
        row.status = OutboxStatus.SKIPPED  # e.g. its idea was hidden, or the kind is off
        return
    row.status = OutboxStatus.SENT
    row.sent_at = utcnow()
    if row.kind in IDEA_KINDS or row.body is None:  # composed just now
        row.subject = str(msg["Subject"] or "")[:300]
        row.body = msg.as_string()  # what was sent, for the admins' outbox page
    if row.kind in SECRET_KINDS and current_app.config["MAIL_SERVER"]:
        row.body = None  # it held a one-time link, and now it is in the person's mailbox
