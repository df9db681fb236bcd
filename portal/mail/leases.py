"""Claiming, leasing and retrying queued rows: one piece of code for the outbox and webhooks.

A queued row (OutboxMessage, WebhookDelivery) has a status, attempts, next_attempt_at,
locked_until and last_error. A worker claims a due row with one UPDATE that moves it from
pending to sending under a lease, so two workers never send the same row; a worker that dies
leaves the lease to run out, and the row is due again. A failed try is retried after a growing
back-off until the last attempt, after which the row is failed.

The caller says what time it is (`now`): each queue keeps its own clock, which tests move.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, and_, or_, select, update

from portal.database import rows_affected
from portal.extensions import db
from portal.models import OutboxStatus


def due(model: Any, now: datetime) -> ColumnElement[bool]:
    """Rows to send now: pending and due, or claimed by a worker whose lease ran out."""
    return or_(
        and_(model.status == OutboxStatus.PENDING, model.next_attempt_at <= now),
        and_(model.status == OutboxStatus.SENDING, model.locked_until < now),
    )


def due_ids(model: Any, now: datetime, limit: int = 200) -> list[int]:
    return list(
        db.session.scalars(select(model.id).where(due(model, now)).order_by(model.id).limit(limit))
    )


def claim(model: Any, row_id: int, now: datetime) -> bool:
    """Take the row for this worker, under a lease, counting the attempt; False if it is not
    due or another worker has it. Commits."""
    lease = timedelta(seconds=current_app.config["MAIL_LEASE_SECONDS"])
    claimed = rows_affected(
        update(model)
        .where(model.id == row_id, due(model, now))
        .values(
            status=OutboxStatus.SENDING,
            locked_until=now + lease,
            attempts=model.attempts + 1,
        )
    )
    db.session.commit()
    return claimed == 1


def retry_delay(attempts: int, delays: list[int] | None = None) -> timedelta:
    delays = delays or current_app.config["MAIL_RETRY_DELAYS"]
    return timedelta(seconds=delays[min(attempts, len(delays)) - 1])


def record_failure(
    row: Any, error: str, *, now: datetime, max_attempts: int, delays: list[int] | None = None
) -> bool:
    """A failed try: due again after a back-off, or failed after the last attempt. True when
    it gave up. The caller commits."""
    row.last_error = error[:2000]
    row.locked_until = None
    if row.attempts >= max_attempts:
        row.status = OutboxStatus.FAILED
        return True
    row.status = OutboxStatus.PENDING
    row.next_attempt_at = now + retry_delay(row.attempts, delays)
    return False


def requeue(row: Any, now: datetime) -> None:
    """Send a row once more from its first attempt (an admin's "send again")."""
    row.status = OutboxStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = now
    row.locked_until = None
