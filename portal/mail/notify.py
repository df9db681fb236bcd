"""Mailing notifications: at once or in a daily digest, as each person chose for each kind.

Which notifications to mail is decided in the transaction that creates them (an outbox row
each, by INSERT ... SELECT); what the message says is decided when it is sent
(portal.mail.compose.compose_for), so content hidden in between is never mailed. The
in-app notifications (portal.services.notifications) call queue_instant(); the `digest send`
command calls queue_digests().
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, and_, exists, insert, literal, or_, select, update

from portal.database import insert_ignoring_duplicates
from portal.extensions import db
from portal.mail.outbox import outbox_changed
from portal.mail.preferences import DAILY, INSTANT, chosen_delivery, own_preference, reachable
from portal.models import (
    Comment,
    EmailPreference,
    Idea,
    Notification,
    NotificationKind,
    OutboxMessage,
    OutboxStatus,
    User,
)
from portal.models.types import utcnow

# The outbox columns an instant notification's row fills, in the order _instant_rows selects.
_INSTANT_COLUMNS = [
    "kind",
    "to_address",
    "user_id",
    "notification_id",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "subject",
    "message_id",
    "payload",
]


def queue_instant(notifications: ColumnElement[bool]) -> None:
    """Outbox rows for the just-created notifications whose people want them at once.

    `notifications` selects them (e.g. by idea, kind and created_at, or by id).
    """
    added = db.session.execute(
        insert(OutboxMessage)
        .from_select(_INSTANT_COLUMNS, _instant_rows(notifications))
        .returning(OutboxMessage.id)  # rowcount is not reliable here through psycopg
    ).first()
    if added is not None:
        outbox_changed()


def _instant_rows(notifications: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    """One outbox row per selected notification wanted at once and not yet in the outbox."""
    now = utcnow()
    column = OutboxMessage.__table__.c
    return (
        select(
            literal("notification"),
            User.email,
            User.id,
            Notification.id,
            literal(OutboxStatus.PENDING.value),
            literal(0),
            literal(now, type_=column.next_attempt_at.type),
            literal(now, type_=column.created_at.type),
            literal(""),
            literal(""),
            literal({}, type_=column.payload.type),
        )
        .select_from(Notification)
        .join(User, User.id == Notification.user_id)
        .outerjoin(EmailPreference, own_preference())
        .where(
            notifications,
            reachable(),
            chosen_delivery() == INSTANT,
            ~exists().where(OutboxMessage.notification_id == Notification.id),
        )
    )


def queue_digests(*, now: datetime | None = None) -> int:
    """One digest per person with daily notifications not yet mailed; returns how many.

    Safe to run twice: each person gets at most one digest a day (a unique key), and the
    notifications it covers are marked so the next digest does not repeat them.
    """
    now = now or utcnow()
    by_user = _undigested(since=now - timedelta(days=current_app.config["DIGEST_LOOKBACK_DAYS"]))
    addresses = dict(
        db.session.execute(select(User.id, User.email).where(User.id.in_(by_user))).all()
    )
    made = sum(
        _queue_digest(user_id, addresses[user_id], ids, now) for user_id, ids in by_user.items()
    )
    if made:
        outbox_changed()
    return made


def _undigested(*, since: datetime) -> dict[int, list[int]]:
    """Each person's notifications for the daily digest not yet mailed, oldest first."""
    pending = (
        select(Notification.user_id, Notification.id)
        .join(User, User.id == Notification.user_id)
        .outerjoin(EmailPreference, own_preference())
        .outerjoin(Idea, Idea.id == Notification.idea_id)
        .outerjoin(Comment, Comment.id == Notification.comment_id)
        .where(
            Notification.digested_at.is_(None),
            Notification.read_at.is_(None),
            Notification.created_at >= since,
            reachable(),
            chosen_delivery() == DAILY,
            # Nothing about hidden content, but moderators' word to the author of it.
            or_(
                Notification.kind == NotificationKind.MODERATION,
                and_(Idea.hidden_at.is_(None), Comment.hidden_at.is_(None)),
            ),
        )
        .order_by(Notification.user_id, Notification.id)
    )
    by_user: dict[int, list[int]] = {}
    for user_id, notification_id in db.session.execute(pending):
        by_user.setdefault(user_id, []).append(notification_id)
    return by_user


def _queue_digest(user_id: int, address: str, ids: list[int], now: datetime) -> bool:
    """Today's digest for one person, unless it is queued already; marks what it covers."""
    added = insert_ignoring_duplicates(
        OutboxMessage,
        kind="digest",
        to_address=address,
        user_id=user_id,
        payload={"notifications": ids},
        dedupe_key=f"digest:{user_id}:{now.date().isoformat()}",
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        subject="",
        message_id="",
    )
    if added:
        db.session.execute(
            update(Notification).where(Notification.id.in_(ids)).values(digested_at=now)
        )
    return bool(added)
