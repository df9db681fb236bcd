"""Composing email: the message from its templates, and what each notification says.

Account messages are composed when they are queued (portal.mail.outbox.queue_email). Messages
about ideas are composed when they are sent (compose_for), from what is true then: content
hidden in between, or a kind the person turned off, is never mailed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any
from urllib.parse import quote as url_quote
from urllib.parse import urlsplit

from flask import current_app, render_template
from sqlalchemy import select

from portal import visibility
from portal.extensions import db
from portal.mail.preferences import (
    ALL,
    DAILY,
    INSTANT,
    KINDS,
    is_reachable,
    outcome_token,
    preferences,
    unsubscribe_token,
)
from portal.models import (
    OUTCOME_ANSWERS,
    Comment,
    Follow,
    Idea,
    Notification,
    NotificationKind,
    OutboxMessage,
    ReleaseIdea,
    User,
)
from portal.models.site import site_name

# Messages carrying one-time links: their stored text is cleared once sent through SMTP.
SECRET_KINDS = frozenset({"verify_email", "reset_password", "invite"})
# Outbox kinds composed at send time by compose_for(), not stored when queued.
IDEA_KINDS = frozenset({"notification", "digest"})
# Notifications about a comment: their messages link to it on the idea page.
COMMENT_KINDS = frozenset(
    {NotificationKind.COMMENT, NotificationKind.REPLY, NotificationKind.OFFICIAL_RESPONSE}
)

SendTimeComposer = Callable[[OutboxMessage], EmailMessage | None]
# Account emails asked for by a typed address (a reset link, a new confirmation link): the
# request stores only the address, the same work whether or not an account has it, and the
# composer a service registers for the kind looks the account up when the message is sent.
_SEND_TIME_COMPOSERS: dict[str, SendTimeComposer] = {}


def composed_at_send_time(kind: str) -> Callable[[SendTimeComposer], SendTimeComposer]:
    """Register the composer of an outbox kind queued without a body (outbox.queue_request).

    It may write (a token's hash, an audit row): delivery commits before it sends. It returns
    None when there is nothing to send, and the row is marked skipped.
    """

    def register(composer: SendTimeComposer) -> SendTimeComposer:
        _SEND_TIME_COMPOSERS[kind] = composer
        return composer

    return register


def external_url(endpoint: str, _anchor: str | None = None, **values: Any) -> str:
    """An absolute link on the configured BASE_URL, whatever Host the request came with."""
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path.rstrip("/") or "/", url_scheme=base.scheme
    )
    url = adapter.build(endpoint, values, force_external=True)
    return f"{url}#{url_quote(_anchor)}" if _anchor else url


# MAIL_SENDER's name before the site's name became the sender's: read as no name of its own.
_OLD_DEFAULT_SENDER_NAME = "Idea Portal"


def sender(name: str) -> Address:
    """MAIL_SENDER's address under the site's name, so a renamed site writes as itself.

    A name given in MAIL_SENDER ("Acme Feedback <feedback@acme.example>") is kept: the
    operator chose it.
    """
    own_name, address = parseaddr(current_app.config["MAIL_SENDER"])
    if own_name and own_name != _OLD_DEFAULT_SENDER_NAME:
        name = own_name
    return Address(display_name=name, addr_spec=address)


def idea_link(n: Notification) -> str | None:
    """Where a notification's message leads: the comment it is about, else the idea."""
    if n.idea_id is None:
        return None
    if n.comment_id is not None and n.kind in COMMENT_KINDS:
        return external_url("ideas.detail", idea_id=n.idea_id, _anchor=f"comment-{n.comment_id}")
    return external_url("ideas.detail", idea_id=n.idea_id)


def compose(
    to: str, subject: str, template: str, *, unsubscribe_url: str | None = None, **context: Any
) -> EmailMessage:
    """A message with a plain-text and an HTML part, both from templates under email/."""
    name = site_name()
    context = {
        "site_name": name,
        "home_url": external_url("main.home"),
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": external_url("account.email_preferences"),
        **context,
    }
    msg = EmailMessage()
    msg["Subject"] = f"{subject} · {name}"
    msg["From"] = sender(name)
    msg["To"] = to
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=urlsplit(current_app.config["BASE_URL"]).hostname)
    if unsubscribe_url:
        # RFC 8058: mail clients offer a one-click unsubscribe that POSTs to this address.
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(render_template(f"email/{template}.txt", **context))
    msg.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    return msg


# --- Messages about ideas, composed at send time -------------------------------------------


def compose_for(row: OutboxMessage) -> EmailMessage | None:
    """The message for an outbox row composed at send time, or None when there is nothing to
    send."""
    if row.kind not in IDEA_KINDS:
        composer = _SEND_TIME_COMPOSERS.get(row.kind)
        if composer is None:  # never skip in silence: the row fails and admins see it
            raise LookupError(f"no composer for outbox messages of kind {row.kind!r}")
        return composer(row)
    user = db.session.get(User, row.user_id) if row.user_id else None
    if user is None or not is_reachable(user):
        return None
    if row.kind == "notification":
        return _instant_message(row, user)
    if row.kind == "digest":
        return _digest_message(row, user)
    return None


def _instant_message(row: OutboxMessage, user: User) -> EmailMessage | None:
    n = db.session.get(Notification, row.notification_id) if row.notification_id else None
    if n is None or preferences(user).get(n.kind) != INSTANT or not _visible(n, user):
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


def _digest_message(row: OutboxMessage, user: User) -> EmailMessage | None:
    ids = list(row.payload.get("notifications", []))
    wanted = preferences(user)
    items = [
        n
        for n in db.session.scalars(
            select(Notification)
            .where(Notification.id.in_(ids), Notification.user_id == user.id)
            .order_by(Notification.created_at, Notification.id)
        ).unique()
        if _visible(n, user) and wanted.get(n.kind) == DAILY
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
        items=[(n, subject(n), idea_link(n)) for n in items],
    )


def _visible(notification: Notification, user: User) -> bool:
    """As the notifications page (portal.services.inbox): nothing about hidden content but a
    moderator's word to its author, nothing about an idea on a board the person may not see."""
    idea = notification.idea
    if idea is not None and not visibility.can_see_board(user, idea.board_id):
        return False
    if notification.kind == NotificationKind.MODERATION:
        return True  # the author's own post: they see it however hidden
    if idea is not None and idea.hidden_at is not None:
        return False
    if notification.comment_id is not None:
        comment = db.session.get(Comment, notification.comment_id)
        if comment is None or comment.hidden_at is not None or comment.deleted_at is not None:
            return False
    return True


def subject(n: Notification) -> str:
    """The headline of a notification's message, and its line in a digest."""
    title = n.idea.title if n.idea else "an idea"
    moved = f"“{title}” moved to {n.idea.stage.name}" if n.idea else "An idea moved"
    headlines: dict[str, str] = {
        NotificationKind.COMMENT: f"New comment on “{title}”",
        NotificationKind.REPLY: f"A reply on “{title}”",
        NotificationKind.STAGE_CHANGE: moved,
        NotificationKind.MERGED: f"“{title}” was merged into another idea",
        NotificationKind.BOARD_MOVED: (
            f"“{title}” moved to the {n.idea.board.name} board" if n.idea else "An idea moved"
        ),
        NotificationKind.OFFICIAL_RESPONSE: f"The team answered on “{title}”",
        NotificationKind.OUTCOME_QUESTION: f"Did “{title}” meet your need?",
        NotificationKind.MODERATION: "A moderator acted on your post",
        NotificationKind.VOTE_ADDED: (
            f"{n.actor.display_name if n.actor else 'The team'} added your vote for “{title}”"
        ),
    }
    if n.release is not None:
        return f"Shipped in {n.release.title}: “{title}”"
    return headlines.get(n.kind, f"News about “{title}”")


def _notification_context(n: Notification, user: User) -> dict[str, Any]:
    comment = db.session.get(Comment, n.comment_id) if n.comment_id else None
    context: dict[str, Any] = {
        "n": n,
        "user": user,
        "comment": comment,
        "headline": subject(n),
        "idea_url": idea_link(n),
        "link_label": (
            "Read it in the conversation"
            if n.comment_id is not None and n.kind in COMMENT_KINDS
            else "Open the idea"
        ),
    }
    if n.release_id is not None and n.idea_id is not None:
        context["release_url"] = external_url("main.release", release_id=n.release_id)
        context["also_shipped"] = _other_followed_ideas(n, user)
    if n.kind == NotificationKind.OUTCOME_QUESTION and n.idea is not None:
        context["answer_links"] = [
            (label, external_url("account.email_outcome", token=outcome_token(user, n.idea, a)))
            for a, label in OUTCOME_ANSWERS.items()
        ]
    return context


def _other_followed_ideas(n: Notification, user: User) -> list[str]:
    """The other ideas of the notification's release that the person follows: one message
    tells them of all of them."""
    return list(
        db.session.scalars(
            select(Idea.title)
            .join(ReleaseIdea, ReleaseIdea.idea_id == Idea.id)
            .join(Follow, (Follow.idea_id == Idea.id) & (Follow.user_id == user.id))
            .where(
                ReleaseIdea.release_id == n.release_id,
                Idea.id != n.idea_id,
                Idea.hidden_at.is_(None),
                visibility.board_clause(user, Idea.board_id),
            )
            .order_by(ReleaseIdea.position)
        )
    )
