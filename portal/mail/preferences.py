"""What each person wants by email: a delivery per notification kind, and the signed links.

The links in a message (unsubscribe, answer an outcome question) are signed with the app's
secret so they work without signing in; reading them back is portal.services.email_settings'
job, which tells the person what is wrong with a bad one.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import ColumnElement, and_, case, exists, func, literal, select
from sqlalchemy.orm import QueryableAttribute

from portal.extensions import db
from portal.models import (
    OUTCOME_ANSWERS,
    EmailPreference,
    Idea,
    Notification,
    NotificationKind,
    User,
)

INSTANT, DAILY, OFF = "instant", "daily", "off"
DELIVERIES = {INSTANT: "At once", DAILY: "In a daily digest", OFF: "Off"}

# The kinds people choose for, in the order the preferences page shows them, with defaults:
# what the team says comes at once; other people's comments come in the digest.
KINDS: dict[str, tuple[str, str]] = {
    NotificationKind.STAGE_CHANGE: ("An idea you follow moves to a new stage", INSTANT),
    NotificationKind.OFFICIAL_RESPONSE: ("The team gives an official response", INSTANT),
    NotificationKind.OUTCOME_QUESTION: (
        "An idea you follow closes: did it meet your need?",
        INSTANT,
    ),
    NotificationKind.MERGED: ("An idea you follow is merged into another", INSTANT),
    NotificationKind.BOARD_MOVED: ("An idea you follow moves to another board", INSTANT),
    NotificationKind.REPLY: ("Someone replies in a conversation you are part of", INSTANT),
    NotificationKind.COMMENT: ("Someone comments on an idea you follow", DAILY),
    NotificationKind.MODERATION: ("Moderators act on something you posted", INSTANT),
    NotificationKind.VOTE_ADDED: (
        "The team adds your vote for an idea, from a call, ticket or meeting",
        INSTANT,
    ),
}
ALL = "all"  # an unsubscribe link from a digest: every kind off


def preferences(user: User) -> dict[str, str]:
    """The person's delivery for every kind: their choice, or the kind's default."""
    chosen = dict(
        db.session.execute(
            select(EmailPreference.kind, EmailPreference.delivery).where(
                EmailPreference.user_id == user.id
            )
        ).all()
    )
    return {kind: chosen.get(kind, default) for kind, (_, default) in KINDS.items()}


def save_preference(user: User, kind: str, delivery: str) -> None:
    """Store one choice as given (the caller checked it is a kind and a delivery we know)."""
    row = db.session.get(EmailPreference, (user.id, kind))
    if row is None:
        db.session.add(EmailPreference(user_id=user.id, kind=kind, delivery=delivery))
    else:
        row.delivery = delivery


def is_reachable(user: User | None) -> bool:
    """Whether we may email this person about ideas: a confirmed address, not suspended."""
    return user is not None and user.email_verified_at is not None and not user.is_suspended


# --- The same rules in SQL, for choosing whom to mail in one statement ---------------------


def chosen_delivery() -> ColumnElement[str]:
    """Each notification's person's delivery for its kind, or the kind's default.

    Used with the outer join `own_preference()` from Notification to EmailPreference.
    """
    default = case(
        *((Notification.kind == kind, literal(d)) for kind, (_, d) in KINDS.items()),
        else_=literal(OFF),
    )
    return func.coalesce(EmailPreference.delivery, default)


def own_preference() -> ColumnElement[bool]:
    """Join condition: the notification's person's choice for its kind, if they made one."""
    return and_(
        EmailPreference.user_id == Notification.user_id,
        EmailPreference.kind == Notification.kind,
    )


def turned_off(user_id: QueryableAttribute[int], kind: str) -> ColumnElement[bool]:
    """Whether the person `user_id` names turned this kind off (no kind is off by default)."""
    return exists().where(
        EmailPreference.user_id == user_id,
        EmailPreference.kind == kind,
        EmailPreference.delivery == OFF,
    )


def reachable() -> ColumnElement[bool]:
    """is_reachable() in SQL, on User."""
    return and_(User.email_verified_at.is_not(None), User.suspended_at.is_(None))


# --- Signed links --------------------------------------------------------------------------


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=salt)


def unsubscribe_token(user: User, kind: str) -> str:
    """For the link that turns one kind (or ALL) off for this person."""
    return _serializer("unsubscribe").dumps({"u": user.id, "k": kind})


def outcome_token(user: User, idea: Idea, answer: str) -> str:
    """For the link that answers "did it meet your need?" for this person and idea."""
    return _serializer("outcome").dumps({"u": user.id, "i": idea.id, "a": answer})


def unsubscribe_link(token: str) -> tuple[User, str] | None:
    """The person and kind an unsubscribe token names; None if it is forged or stale."""
    try:
        data = _signed(token, "unsubscribe")
        user, kind = db.session.get(User, int(data["u"])), str(data["k"])
    except (BadData, KeyError, TypeError, ValueError):
        return None
    if user is None or (kind not in KINDS and kind != ALL):
        return None
    return user, kind


def outcome_link(token: str) -> tuple[User, Idea, str] | None:
    """The person, idea and answer an outcome token names; None if it is forged or stale."""
    try:
        data = _signed(token, "outcome")
        user = db.session.get(User, int(data["u"]))
        idea = db.session.get(Idea, int(data["i"]))
        answer = str(data["a"])
    except (BadData, KeyError, TypeError, ValueError):
        return None
    if user is None or idea is None or answer not in OUTCOME_ANSWERS:
        return None
    return user, idea, answer


def _signed(token: str, salt: str) -> dict[str, Any]:
    data = _serializer(salt).loads(token)
    if not isinstance(data, dict):
        raise TypeError("not a signed mapping")
    return data
