"""Email about ideas: notifications at once or in a daily digest, preferences, signed links.

Each notification kind is mailed as each person chose: at once, in the daily digest, or not at
all. Which notifications to mail is decided in the transaction that creates them (an outbox
row each, by INSERT ... SELECT); what the message says is decided when it is sent, so content
hidden in between is never mailed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import and_, case, exists, func, insert, literal, or_, select, update

from portal.database import insert_ignoring_duplicates
from portal.extensions import db
from portal.mail import compose, external_url, outbox_changed
from portal.models import Comment, EmailPreference, Idea, Notification, OutboxMessage, User
from portal.models.types import utcnow
from portal.services import notifications
from portal.services.errors import InvalidInput, InvalidToken

INSTANT, DAILY, OFF = "instant", "daily", "off"
DELIVERIES = {INSTANT: "At once", DAILY: "In a daily digest", OFF: "Off"}

# The kinds people choose for, in the order the preferences page shows them, with defaults:
# what the team says comes at once; other people's comments come in the digest.
KINDS = {
    notifications.STAGE_CHANGE: ("An idea you follow moves to a new stage", INSTANT),
    notifications.OFFICIAL_RESPONSE: ("The team gives an official response", INSTANT),
    notifications.OUTCOME_QUESTION: ("An idea you follow closes: did it meet your need?", INSTANT),
    notifications.MERGED: ("An idea you follow is merged into another", INSTANT),
    notifications.REPLY: ("Someone replies in a conversation you are part of", INSTANT),
    notifications.COMMENT: ("Someone comments on an idea you follow", DAILY),
    notifications.MODERATION: ("Moderators act on something you posted", INSTANT),
}
ALL = "all"  # an unsubscribe link from a digest: every kind off


# --- Preferences ---------------------------------------------------------------------------


def preferences(user: User) -> dict[str, str]:
    chosen = dict(
        db.session.execute(
            select(EmailPreference.kind, EmailPreference.delivery).where(
                EmailPreference.user_id == user.id
            )
        ).all()
    )
    return {kind: chosen.get(kind, default) for kind, (_, default) in KINDS.items()}


def set_preference(user: User, kind: str, delivery: str) -> None:
    if kind not in KINDS:
        raise InvalidInput("That is not a kind of email we send.")
    if delivery not in DELIVERIES:
        raise InvalidInput("Choose at once, daily or off.", field=kind)
    row = db.session.get(EmailPreference, (user.id, kind))
    if row is None:
        db.session.add(EmailPreference(user_id=user.id, kind=kind, delivery=delivery))
    else:
        row.delivery = delivery


def set_preferences(user: User, choices: dict[str, str]) -> None:
    for kind, delivery in choices.items():
        set_preference(user, kind, delivery)


def _delivery_expr(kind_column):
    """The delivery each row's person chose for its kind, or the kind's default, in SQL."""
    default = case(
        *((kind_column == kind, literal(d)) for kind, (_, d) in KINDS.items()),
        else_=literal(OFF),
    )
    return func.coalesce(EmailPreference.delivery, default)


def _own_preference():
    """Join condition: the notification's person's choice for its kind, if they made one."""
    return and_(
        EmailPreference.user_id == Notification.user_id,
        EmailPreference.kind == Notification.kind,
    )


def _reachable():
    """People we may email about ideas: confirmed addresses, not suspended."""
    return and_(User.email_verified_at.is_not(None), User.suspended_at.is_(None))


# --- Queueing ------------------------------------------------------------------------------


def queue_instant(notification_filter) -> None:
    """Outbox rows for the just-created notifications whose people want them at once.

    notification_filter selects those notifications (e.g. by idea, kind and created_at).
    """
    now = utcnow()
    rows = (
        select(
            literal("notification"),
            User.email,
            User.id,
            Notification.id,
            literal("pending"),
            literal(0),
            literal(now, type_=OutboxMessage.__table__.c.next_attempt_at.type),
            literal(now, type_=OutboxMessage.__table__.c.created_at.type),
            literal(""),
            literal(""),
            literal({}, type_=OutboxMessage.__table__.c.payload.type),
        )
        .select_from(Notification)
        .join(User, User.id == Notification.user_id)
        .outerjoin(EmailPreference, _own_preference())
        .where(
            notification_filter,
            _reachable(),
            _delivery_expr(Notification.kind) == INSTANT,
            ~exists().where(OutboxMessage.notification_id == Notification.id),
        )
    )
    added = db.session.execute(
        insert(OutboxMessage)
        .from_select(
            [
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
            ],
            rows,
        )
        .returning(OutboxMessage.id)  # rowcount is not reliable here through psycopg
    ).first()
    if added is not None:
        outbox_changed()


def queue_digests(*, now: datetime | None = None) -> int:
    """One digest per person with daily notifications not yet mailed; returns how many.

    Safe to run twice: each person gets at most one digest a day (a unique key), and the
    notifications it covers are marked so the next digest does not repeat them.
    """
    now = now or utcnow()
    since = now - timedelta(days=current_app.config["DIGEST_LOOKBACK_DAYS"])
    pending = (
        select(Notification.user_id, Notification.id)
        .join(User, User.id == Notification.user_id)
        .outerjoin(EmailPreference, _own_preference())
        .outerjoin(Idea, Idea.id == Notification.idea_id)
        .outerjoin(Comment, Comment.id == Notification.comment_id)
        .where(
            Notification.digested_at.is_(None),
            Notification.read_at.is_(None),
            Notification.created_at >= since,
            _reachable(),
            _delivery_expr(Notification.kind) == DAILY,
            # Nothing about hidden content, but moderators' word to the author of it.
            or_(
                Notification.kind == notifications.MODERATION,
                and_(Idea.hidden_at.is_(None), Comment.hidden_at.is_(None)),
            ),
        )
        .order_by(Notification.user_id, Notification.id)
    )
    by_user: dict[int, list[int]] = {}
    for user_id, notification_id in db.session.execute(pending):
        by_user.setdefault(user_id, []).append(notification_id)
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(by_user))).unique()}
    day = now.date().isoformat()
    made = 0
    for user_id, ids in by_user.items():
        added = insert_ignoring_duplicates(
            OutboxMessage,
            kind="digest",
            to_address=users[user_id].email,
            user_id=user_id,
            payload={"notifications": ids},
            dedupe_key=f"digest:{user_id}:{day}",
            status="pending",
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
            made += 1
    if made:
        outbox_changed()
    return made


# --- Signed links --------------------------------------------------------------------------


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=salt)


def unsubscribe_token(user: User, kind: str) -> str:
    return _serializer("unsubscribe").dumps({"u": user.id, "k": kind})


def read_unsubscribe_token(token: str) -> tuple[User, str]:
    message = "This unsubscribe link is not valid. Change your email settings instead."
    try:
        data = _serializer("unsubscribe").loads(token)
        user, kind = db.session.get(User, int(data["u"])), str(data["k"])
    except (BadData, KeyError, TypeError, ValueError):
        raise InvalidToken(message) from None
    if user is None or (kind not in KINDS and kind != ALL):
        raise InvalidToken(message)
    return user, kind


def unsubscribe(user: User, kind: str) -> None:
    for each in KINDS if kind == ALL else (kind,):
        set_preference(user, each, OFF)


def outcome_token(user: User, idea: Idea, answer: str) -> str:
    return _serializer("outcome").dumps({"u": user.id, "i": idea.id, "a": answer})


def read_outcome_token(token: str) -> tuple[User, Idea, str]:
    from portal.services.outcomes import ANSWERS

    message = "This link is not valid. Open the idea to answer."
    try:
        data = _serializer("outcome").loads(token)
        user = db.session.get(User, int(data["u"]))
        idea = db.session.get(Idea, int(data["i"]))
        answer = str(data["a"])
    except (BadData, KeyError, TypeError, ValueError):
        raise InvalidToken(message) from None
    if user is None or idea is None or answer not in ANSWERS:
        raise InvalidToken(message)
    return user, idea, answer


# --- Composing at send time ----------------------------------------------------------------


def _visible(notification: Notification) -> bool:
    if notification.kind == notifications.MODERATION:
        return True  # the author's own post: they see it however hidden
    idea = notification.idea
    if idea is not None and idea.hidden_at is not None:
        return False
    if notification.comment_id is not None:
        comment = db.session.get(Comment, notification.comment_id)
        if comment is None or comment.hidden_at is not None or comment.deleted_at is not None:
            return False
    return True


def _still_wanted(user: User | None, kind: str, delivery: str) -> bool:
    if user is None or user.email_verified_at is None or user.is_suspended:
        return False
    return preferences(user).get(kind) == delivery


def _subject(n: Notification) -> str:
    title = n.idea.title if n.idea else "an idea"
    return {
        notifications.COMMENT: f"New comment on “{title}”",
        notifications.REPLY: f"A reply on “{title}”",
        notifications.STAGE_CHANGE: f"“{title}” moved to {n.idea.stage.name}"
        if n.idea
        else "An idea moved",
        notifications.MERGED: f"“{title}” was merged into another idea",
        notifications.OFFICIAL_RESPONSE: f"The team answered on “{title}”",
        notifications.OUTCOME_QUESTION: f"Did “{title}” meet your need?",
        notifications.MODERATION: "A moderator acted on your post",
    }.get(n.kind, f"News about “{title}”")


def _notification_context(n: Notification, user: User) -> dict:
    from portal.services.outcomes import ANSWERS

    comment = db.session.get(Comment, n.comment_id) if n.comment_id else None
    context = {
        "n": n,
        "user": user,
        "comment": comment,
        "headline": _subject(n),
        "idea_url": external_url("ideas.detail", idea_id=n.idea_id) if n.idea_id else None,
    }
    if n.kind == notifications.OUTCOME_QUESTION and n.idea is not None:
        context["answer_links"] = [
            (label, external_url("account.email_outcome", token=outcome_token(user, n.idea, a)))
            for a, label in ANSWERS.items()
        ]
    return context


def compose_for(row: OutboxMessage):
    """The message for an outbox row about ideas, or None when there is nothing to send."""
    user = db.session.get(User, row.user_id) if row.user_id else None
    if row.kind == "notification":
        n = db.session.get(Notification, row.notification_id) if row.notification_id else None
        if n is None or not _still_wanted(user, n.kind, INSTANT) or not _visible(n):
            return None
        context = _notification_context(n, user)
        return compose(
            user.email,
            context["headline"],
            "notification",
            unsubscribe_url=external_url(
                "account.email_unsubscribe", token=unsubscribe_token(user, n.kind)
            ),
            kind_label=KINDS[n.kind][0] if n.kind in KINDS else "",
            **context,
        )
    if row.kind == "digest":
        if user is None or user.email_verified_at is None or user.is_suspended:
            return None
        ids = list(row.payload.get("notifications", []))
        items = [
            n
            for n in db.session.scalars(
                select(Notification)
                .where(Notification.id.in_(ids), Notification.user_id == user.id)
                .order_by(Notification.created_at, Notification.id)
            ).unique()
            if _visible(n) and preferences(user).get(n.kind) == DAILY
        ]
        if not items:
            return None
        return compose(
            user.email,
            f"Your daily digest: {len(items)} update{'' if len(items) == 1 else 's'}",
            "digest",
            unsubscribe_url=external_url(
                "account.email_unsubscribe", token=unsubscribe_token(user, ALL)
            ),
            user=user,
            items=[
                (n, _subject(n), external_url("ideas.detail", idea_id=n.idea_id)) for n in items
            ],
        )
    return None


def failed_and_recent(*, limit: int = 100) -> tuple[list[OutboxMessage], list[OutboxMessage]]:
    failed = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == "failed")
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    ).all()
    recent = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status != "failed")
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    ).all()
    return list(failed), list(recent)
