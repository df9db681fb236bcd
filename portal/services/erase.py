"""Erasing an account: the person's data goes, the threads they took part in stay readable.

The users row is kept as a tombstone so every foreign key still holds: its email becomes a
unique address that names nobody, its name "A former member" (so every page that shows an
author shows that), its password unusable and every other personal column empty, and it is
suspended so nobody can sign in as it. What hangs off it is handled per table, as ERASE_PLAN
says. tests/test_erase.py fails when a table that references users is missing from the plan,
so a new table must say here what becomes of its rows.

Everything happens in the caller's transaction: one commit, or none of it.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import Text, cast, delete, func, or_, select, update

from portal.extensions import db
from portal.models import (
    ApiKey,
    AuditEvent,
    BoardMember,
    Comment,
    DataExport,
    EmailPreference,
    ExternalIdentity,
    Follow,
    Idea,
    IdeaRevision,
    Invite,
    MergedFollow,
    Notification,
    OutboxMessage,
    RecoveryCode,
    RememberedDevice,
    Report,
    Role,
    SavedFilter,
    User,
    UserSession,
    WebhookAttempt,
    WebhookDelivery,
)
from portal.models.types import utcnow
from portal.permissions import can_manage_users, require
from portal.services import accounts, audit, moderation, users
from portal.services.errors import InvalidInput

FORMER_MEMBER = "A former member"
REMOVED_IDEA_TITLE = "Removed idea"
REMOVED_REASON = "Removed at its author's request."
ERASED_DOMAIN = "invalid"
# Stored as the password hash: no hasher produces it, so no password ever matches.
UNUSABLE_HASH = accounts.NO_PASSWORD_PREFIX + "erased"


class Handling(enum.StrEnum):
    KEPT = "kept"  # the row stays, pointing at the tombstone (it names nobody any more)
    DELETED = "deleted"  # the rows go
    SCRUBBED = "scrubbed"  # the rows stay with the person's email and name taken out of them


# Every column that references users.id, and what erasing does to the rows it links. Keep it
# complete: tests/test_erase.py walks the metadata and fails on a column missing here.
ERASE_PLAN: dict[tuple[str, str], Handling] = {
    ("users", "id"): Handling.SCRUBBED,  # the tombstone itself
    ("api_keys", "user_id"): Handling.DELETED,
    ("audit_events", "actor_id"): Handling.SCRUBBED,
    ("board_members", "user_id"): Handling.DELETED,
    ("comments", "author_id"): Handling.KEPT,
    ("data_exports", "user_id"): Handling.DELETED,  # or blanked and deleted when removal is asked
    ("email_preferences", "user_id"): Handling.DELETED,
    ("external_identities", "user_id"): Handling.DELETED,
    ("follows", "user_id"): Handling.DELETED,
    ("hide_reviews", "hidden_by_id"): Handling.KEPT,
    ("idea_merges", "actor_id"): Handling.KEPT,
    ("idea_merges", "undone_by_id"): Handling.KEPT,
    ("ideas", "author_id"): Handling.KEPT,  # or hidden and blanked when removal is asked
    ("ideas", "owner_id"): Handling.KEPT,
    ("internal_notes", "author_id"): Handling.KEPT,
    ("invites", "created_by_id"): Handling.KEPT,
    ("invites", "used_by_id"): Handling.DELETED,
    ("merged_follows", "user_id"): Handling.DELETED,
    ("merged_votes", "user_id"): Handling.KEPT,  # votes stay counted, anonymously
    ("merged_votes", "added_by_id"): Handling.KEPT,
    ("notifications", "user_id"): Handling.DELETED,
    ("notifications", "actor_id"): Handling.SCRUBBED,
    ("outbox", "user_id"): Handling.DELETED,
    ("outcome_answers", "user_id"): Handling.KEPT,  # answers stay counted, anonymously
    ("recovery_codes", "user_id"): Handling.DELETED,
    ("releases", "author_id"): Handling.KEPT,
    ("releases", "published_by_id"): Handling.KEPT,
    ("remembered_devices", "user_id"): Handling.DELETED,
    ("reports", "reporter_id"): Handling.DELETED,
    ("reports", "resolved_by_id"): Handling.KEPT,
    ("saved_filters", "owner_id"): Handling.DELETED,
    ("site_settings", "updated_by_id"): Handling.KEPT,
    ("stage_changes", "actor_id"): Handling.KEPT,
    ("user_sessions", "user_id"): Handling.DELETED,
    ("votes", "user_id"): Handling.KEPT,  # votes stay counted, anonymously
    ("votes", "added_by_id"): Handling.KEPT,
    ("webhook_endpoints", "created_by_id"): Handling.KEPT,
}


def is_erased(user: User) -> bool:
    return user.email.endswith("@" + ERASED_DOMAIN) and user.email.startswith("erased-")


def erase_own_account(user: User, *, confirmation: str, remove_posts: bool, ip: str | None) -> None:
    """The person erases their own account, confirming with their password (or email)."""
    from portal.services.passwords import verify_password

    # Accounts made through single sign-on or identify may have no password: then the
    # person confirms by typing their email address.
    if accounts.has_password(user):
        if not verify_password(user.password_hash, confirmation):
            raise InvalidInput("That password is not right.", field="confirmation")
    elif confirmation.strip().lower() != user.email:
        raise InvalidInput("Type the email address of this account.", field="confirmation")
    erase(user, actor=None, remove_posts=remove_posts, ip=ip)


def erase_on_request(user: User, *, actor: User, remove_posts: bool, ip: str | None) -> None:
    """An admin erases someone's account at their request."""
    require(can_manage_users(actor) and actor.id != user.id)
    erase(user, actor=actor, remove_posts=remove_posts, ip=ip)


def erase(user: User, *, actor: User | None, remove_posts: bool, ip: str | None) -> None:
    if is_erased(user):
        raise InvalidInput("This account is already erased.")
    if users.is_last_admin(user):
        raise InvalidInput(
            "You are the only admin. Make someone else an admin first, then erase this account."
        )
    uid = user.id
    email, name = user.email, user.display_name
    if remove_posts:
        _remove_posts(uid)
    _scrub_linked_text(uid, email=email, name=name)
    _delete_linked_rows(uid, email=email)

    user.email = f"erased-{secrets.token_hex(12)}@{ERASED_DOMAIN}"
    user.display_name = FORMER_MEMBER
    user.password_hash = UNUSABLE_HASH
    user.role = Role.CUSTOMER.value
    user.email_verified_at = None
    user.guidelines_accepted_at = None
    user.last_sign_in_at = None
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.suspended_at = utcnow()
    user.suspension_reason = "This account was erased."
    user.end_emailed_links()
    db.session.flush()
    audit.record(
        "user.erased",
        actor=actor,
        ip=ip,
        target=user,
        posts_removed=remove_posts,
    )


def _remove_posts(uid: int) -> None:
    """Their ideas are hidden with their text replaced, their comments deleted and blanked
    (a placeholder keeps a thread with replies readable), as deleting a comment does."""
    now = utcnow()
    # Webhook deliveries carry the posts' text: those about their posts go with the posts.
    about_them = select(WebhookDelivery.id).where(
        or_(
            WebhookDelivery.comment_id.in_(select(Comment.id).where(Comment.author_id == uid)),
            WebhookDelivery.idea_id.in_(select(Idea.id).where(Idea.author_id == uid)),
        )
    )
    db.session.execute(
        delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(about_them.scalar_subquery()))
    )
    db.session.execute(
        delete(WebhookDelivery)
        .where(WebhookDelivery.id.in_(about_them.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    touched = list(
        db.session.scalars(
            select(Comment.idea_id)
            .where(Comment.author_id == uid, Comment.deleted_at.is_(None))
            .distinct()
        )
    )
    db.session.execute(
        update(Comment)
        .where(Comment.author_id == uid)
        .values(body="", deleted_at=func.coalesce(Comment.deleted_at, now), is_official=False)
        .execution_options(synchronize_session=False)
    )
    moderation.recount_comments(touched)
    idea_ids = select(Idea.id).where(Idea.author_id == uid).scalar_subquery()
    db.session.execute(delete(IdeaRevision).where(IdeaRevision.idea_id.in_(idea_ids)))
    db.session.execute(
        update(Idea)
        .where(Idea.author_id == uid)
        .values(
            title=REMOVED_IDEA_TITLE,
            problem="",
            solution="",
            hidden_at=func.coalesce(Idea.hidden_at, now),
            hidden_reason=REMOVED_REASON,
            awaiting_approval=False,
        )
        .execution_options(synchronize_session=False)
    )


def _delete_linked_rows(uid: int, *, email: str) -> None:
    for model, where in (
        # Mail first: it may point at their notifications.
        (OutboxMessage, or_(OutboxMessage.user_id == uid, OutboxMessage.to_address == email)),
        (UserSession, UserSession.user_id == uid),
        (RememberedDevice, RememberedDevice.user_id == uid),
        (RecoveryCode, RecoveryCode.user_id == uid),
        (ExternalIdentity, ExternalIdentity.user_id == uid),
        (ApiKey, ApiKey.user_id == uid),
        (DataExport, DataExport.user_id == uid),
        (BoardMember, BoardMember.user_id == uid),
        (EmailPreference, EmailPreference.user_id == uid),
        (Follow, Follow.user_id == uid),
        (MergedFollow, MergedFollow.user_id == uid),
        (Notification, Notification.user_id == uid),
        (Report, Report.reporter_id == uid),
        (SavedFilter, SavedFilter.owner_id == uid),
        (Invite, or_(Invite.used_by_id == uid, Invite.email == email)),
    ):
        db.session.execute(delete(model).where(where).execution_options(synchronize_session=False))


def _replacer(email: str, name: str) -> Callable[[str], str]:
    patterns = [re.compile(re.escape(email), re.IGNORECASE)]
    if name.strip():
        patterns.append(re.compile(re.escape(name), re.IGNORECASE))

    def replace(text: str) -> str:
        for pattern in patterns:
            text = pattern.sub(FORMER_MEMBER, text)
        return text

    return replace


def _scrubbed(value: Any, replace: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return replace(value)
    if isinstance(value, list):
        return [_scrubbed(v, replace) for v in value]
    if isinstance(value, dict):
        return {k: _scrubbed(v, replace) for k, v in value.items()}
    return value


def _scrub_linked_text(uid: int, *, email: str, name: str) -> None:
    """Take their email and name out of text that was written about them: the audit log,
    notifications they caused, webhook deliveries about their posts, other people's mail."""
    replace = _replacer(email, name)
    like = f"%{email}%"
    events = db.session.scalars(
        select(AuditEvent).where(
            or_(
                AuditEvent.actor_id == uid,
                (AuditEvent.target_type == User.__tablename__) & (AuditEvent.target_id == uid),
                cast(AuditEvent.detail, Text).ilike(like),
            )
        )
    )
    for event in events:
        event.actor_name = replace(event.actor_name) if event.actor_name else event.actor_name
        event.target_name = replace(event.target_name) if event.target_name else event.target_name
        event.detail = _scrubbed(event.detail, replace)
    # Comments by them named in the log ("Dana's comment on ...") and ideas they own.
    for event in db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.target_type == Comment.__tablename__,
            AuditEvent.target_id.in_(select(Comment.id).where(Comment.author_id == uid)),
        )
    ):
        event.target_name = replace(event.target_name) if event.target_name else event.target_name
    for note in db.session.scalars(select(Notification).where(Notification.actor_id == uid)):
        note.message = replace(note.message)
    their_comments = select(Comment.id).where(Comment.author_id == uid)
    their_ideas = select(Idea.id).where(Idea.author_id == uid)
    for delivery in db.session.scalars(
        select(WebhookDelivery).where(
            or_(
                WebhookDelivery.comment_id.in_(their_comments),
                WebhookDelivery.idea_id.in_(their_ideas),
                cast(WebhookDelivery.payload, Text).ilike(like),
            )
        )
    ):
        delivery.payload = _scrubbed(delivery.payload, replace)
    for message in db.session.scalars(
        select(OutboxMessage).where(
            or_(
                cast(OutboxMessage.payload, Text).ilike(like),
                OutboxMessage.body.ilike(like),
                OutboxMessage.subject.ilike(f"%{name}%"),
            )
        )
    ):
        message.subject = replace(message.subject)
        message.body = replace(message.body) if message.body else message.body
        message.payload = _scrubbed(message.payload, replace)
    db.session.flush()
