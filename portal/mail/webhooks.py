"""Delivering webhooks: each queued event signed, posted to its endpoint, logged and retried.

Deliveries are rows written with their cause (portal.services.webhooks) and driven by the
outbox's workers (portal.mail.delivery), claimed, leased and retried by the same code as
email (portal.mail.leases). Each try is kept for the endpoint's delivery log. The address is
checked again at every try (portal.mail.netguard). An endpoint whose deliveries keep failing
is disabled and every admin is emailed.

Bodies follow Standard Webhooks (https://www.standardwebhooks.com): the headers webhook-id,
webhook-timestamp and webhook-signature ("v1,<base64 HMAC-SHA256 of id.timestamp.body>",
with a second signature by the previous secret while a rotation's grace lasts). Endpoints in
the "slack" or "teams" format get a chat message instead (Teams: an Adaptive Card, as its
Workflows webhooks take), with the same headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update

from portal import visibility
from portal.extensions import db
from portal.mail import leases, netguard
from portal.mail.compose import external_url
from portal.mail.outbox import queue_email
from portal.models import (
    AuditEvent,
    Board,
    Comment,
    Idea,
    OutboxStatus,
    Role,
    SiteSetting,
    User,
    WebhookAttempt,
    WebhookAudience,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookFormat,
)
from portal.models.site import site_name
from portal.models.types import utcnow

log = logging.getLogger(__name__)

LOCAL_HOSTS_SETTING = "webhook_local_hosts"
SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix of every secret, not one)
USER_AGENT = "IdeaPortal-Webhooks/1"


def local_hosts() -> list[str]:
    """The hosts admins allowed for local use (site setting), e.g. ["127.0.0.1:8080"]."""
    value = db.session.scalar(
        select(SiteSetting.value).where(SiteSetting.key == LOCAL_HOSTS_SETTING)
    )
    return (value or "").replace(",", " ").split()


# --- Signing -------------------------------------------------------------------------------


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signatures(endpoint: WebhookEndpoint, message_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header: by the secret, and by the previous one during its grace."""
    signed = [signature(endpoint.secret, message_id, timestamp, body)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > utcnow():
        signed.append(signature(endpoint.previous_secret, message_id, timestamp, body))
    return " ".join(signed)


# --- Bodies --------------------------------------------------------------------------------


def event_body(delivery: WebhookDelivery) -> dict[str, Any]:
    """The Standard Webhooks body: the type, when it happened and what it is about."""
    return {
        "type": delivery.event_type,
        "timestamp": delivery.created_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "data": delivery.payload,
    }


def summary(event_type: str, data: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """What a chat message says: a headline, more text, and the link to open."""
    idea = data.get("idea") or {}
    title = f"“{idea.get('title', '')}”"
    stage = (idea.get("stage") or {}).get("name", "")
    url = idea.get("url")
    if event_type == "idea.created":
        return f"New idea: {title}", data.get("problem"), url
    if event_type == "idea.moved":
        return f"{title} moved to {data['to_stage']['name']}", data.get("note"), url
    if event_type == "idea.shipped":
        release = data.get("release")
        where = f" in {release['title']}" if release else ""
        return f"Shipped{where}: {title}", data.get("note"), url
    if event_type == "idea.merged":
        into = data.get("into") or {}
        return (
            f"{title} was merged into “{into.get('title', '')}”",
            data.get("note"),
            into.get("url", url),
        )
    if event_type == "comment.created":
        comment = data.get("comment") or {}
        return (
            f"{comment.get('author') or 'Someone'} commented on {title}",
            comment.get("body"),
            comment.get("url", url),
        )
    if event_type == "vote.created":
        votes = data.get("votes", 0)
        reached = " reached" if data.get("threshold") else " now has"
        return f"{title}{reached} {votes} vote{'' if votes == 1 else 's'}", stage or None, url
    if event_type == "outcome.answered":
        return (
            f"Did {title} meet the need? Someone answered “{data.get('answer', '')}”",
            data.get("comment") or None,
            url,
        )
    return str(data.get("message") or f"A test event from {site_name()}"), None, None


def _cut(text: str | None, limit: int = 1500) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming webhook message: text with a link (Slack's <url|label> markup)."""
    headline, more, url = summary(event_type, data)
    text = _slack_escape(headline)
    if url:
        text = f"<{url}|{text}>"
    if more:
        text += "\n" + _slack_escape(_cut(more))
    return {"text": text}


def teams_body(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """A Microsoft Teams "Workflows" incoming webhook message: an Adaptive Card (1.4) with the
    headline, more text, and a button to open it. (Office 365 connectors and their MessageCard
    are being retired; a Workflows webhook takes this message with the card attached.)"""
    headline, more, url = summary(event_type, data)
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": headline,
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
            },
            {"type": "TextBlock", "text": _cut(more) if more else site_name(), "wrap": True},
        ],
    }
    if url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": url}]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def body_bytes(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> bytes:
    if endpoint.format == WebhookFormat.SLACK:
        body = slack_body(delivery.event_type, delivery.payload)
    elif endpoint.format == WebhookFormat.TEAMS:
        body = teams_body(delivery.event_type, delivery.payload)
    else:
        body = event_body(delivery)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


# --- What may be sent ----------------------------------------------------------------------


def _portal_is_private() -> bool:
    """Whether the whole portal is private (only people signed in see anything): then no idea
    is public, whatever its board."""
    setting = select(SiteSetting.value).where(SiteSetting.key == "private_portal")
    return db.session.scalar(setting) == "on"


def idea_is_public(idea: Idea | None) -> bool:
    """What webhooks may tell of: what a visitor who is not signed in may see (a public board
    of a portal that is not private, not hidden, not waiting for approval)."""
    return (
        idea is not None
        and not idea.awaiting_approval
        and visibility.can_see_idea(None, idea)
        and not _portal_is_private()
    )


def idea_is_shown(idea: Idea | None) -> bool:
    """What an endpoint that receives everything the team sees may tell of: an idea on any
    board, but never a hidden one or one waiting for approval."""
    return idea is not None and not idea.awaiting_approval and idea.hidden_at is None


def may_tell(endpoint: WebhookEndpoint, idea: Idea | None) -> bool:
    """Whether this endpoint may be told of this idea, by the audience the admins chose."""
    if endpoint.audience == WebhookAudience.TEAM:
        return idea_is_shown(idea)
    return idea_is_public(idea)


def may_tell_of_board(endpoint: WebhookEndpoint, board: Board) -> bool:
    """Whether this endpoint may hear of (shown) ideas on this board."""
    if endpoint.audience == WebhookAudience.TEAM:
        return True
    return visibility.can_see_board(None, board) and not _portal_is_private()


def comment_is_public(comment: Comment | None) -> bool:
    return comment is not None and comment.hidden_at is None and comment.deleted_at is None


def still_allowed(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> bool:
    """Checked again when it is sent: content hidden since the event (or now on a board this
    endpoint may not hear of) is not sent."""
    about_idea = delivery.payload.get("idea") is not None
    if about_idea and not may_tell(
        endpoint, db.session.get(Idea, delivery.idea_id) if delivery.idea_id else None
    ):
        return False
    about_comment = delivery.event_type == "comment.created"
    return not about_comment or comment_is_public(
        db.session.get(Comment, delivery.comment_id) if delivery.comment_id else None
    )


# --- Delivering ----------------------------------------------------------------------------


def due_ids(limit: int = 200) -> list[int]:
    return leases.due_ids(WebhookDelivery, utcnow(), limit)


def deliver_due(limit: int = 200) -> int:
    """Send the deliveries that are due, oldest first; how many were received."""
    ids = due_ids(limit)
    db.session.commit()
    return sum(1 for row_id in ids if deliver(row_id) == OutboxStatus.SENT)


def deliver(delivery_id: int) -> str | None:
    """Try one delivery if it is due and nobody else has it; the status it ends in."""
    if not leases.claim(WebhookDelivery, delivery_id, utcnow()):
        return None
    row = db.session.get_one(WebhookDelivery, delivery_id)
    endpoint = db.session.get_one(WebhookEndpoint, row.endpoint_id)
    if not endpoint.enabled or not still_allowed(endpoint, row):
        row.status = OutboxStatus.SKIPPED
        row.locked_until = None
        row.last_error = (
            "Not sent: the endpoint is disabled."
            if not endpoint.enabled
            else "Not sent: what it is about was hidden in the meantime."
        )
        db.session.commit()
        return row.status
    timestamp = int(utcnow().timestamp())
    body = body_bytes(endpoint, row)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": row.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures(endpoint, row.message_id, timestamp, body),
    }
    url, allowed = endpoint.url, local_hosts()
    db.session.commit()  # hold no transaction (SQLite: no write lock) while the receiver talks
    started = time.monotonic()
    status, excerpt, error = _send(url, allowed, body, headers)
    elapsed = int((time.monotonic() - started) * 1000)
    return _record(delivery_id, status, excerpt, error, elapsed)


def _send(
    url: str, allowed: list[str], body: bytes, headers: dict[str, str]
) -> tuple[int | None, str, str | None]:
    """Post the body; (response status, excerpt of the answer, error or None on success)."""
    cfg = current_app.config
    cap = int(cfg["WEBHOOK_RESPONSE_CAP"])
    try:
        target = netguard.parse(url)
        addresses = netguard.checked_addresses(target, allowed)
        answer = netguard.post(
            target,
            addresses,
            body,
            headers,
            connect_timeout=float(cfg["WEBHOOK_CONNECT_TIMEOUT"]),
            total_timeout=float(cfg["WEBHOOK_TIMEOUT"]),
            cap=cap,
        )
    except netguard.Refused as exc:
        return None, "", f"Refused: {exc}"
    except Exception as exc:  # the network's failures are many; each is one failed try
        return None, "", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if 200 <= answer.status < 300:
        return answer.status, answer.excerpt, None
    if 300 <= answer.status < 400:
        where = f" to {answer.location}" if answer.location else ""
        return answer.status, answer.excerpt, f"Redirect{where} not followed (HTTP {answer.status})"
    return answer.status, answer.excerpt, f"HTTP {answer.status}"


def _record(
    delivery_id: int, status: int | None, excerpt: str, error: str | None, elapsed_ms: int
) -> str:
    row = db.session.get_one(WebhookDelivery, delivery_id)
    db.session.add(
        WebhookAttempt(
            delivery_id=row.id,
            duration_ms=elapsed_ms,
            response_status=status,
            response_excerpt=excerpt,
            error=error,
        )
    )
    row.response_status = status
    if error is None:
        row.status = OutboxStatus.SENT
        row.sent_at = utcnow()
        row.locked_until = None
        row.last_error = None
        db.session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == row.endpoint_id)
            .values(consecutive_failures=0, failing_since=None)
        )
    else:
        cfg = current_app.config
        gave_up = leases.record_failure(
            row,
            error,
            now=utcnow(),
            max_attempts=int(cfg["WEBHOOK_MAX_ATTEMPTS"]),
            delays=list(cfg["WEBHOOK_RETRY_DELAYS"]),
        )
        log.warning("webhook delivery %s failed (try %s): %s", row.id, row.attempts, error)
        if gave_up:
            _count_failure(row.endpoint_id)
    db.session.commit()
    return row.status


def _count_failure(endpoint_id: int) -> None:
    """A delivery failed every try: count it, and disable the endpoint after too many."""
    now = utcnow()
    db.session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(
            consecutive_failures=WebhookEndpoint.consecutive_failures + 1,
            failing_since=func.coalesce(WebhookEndpoint.failing_since, now),
        )
    )
    endpoint = db.session.get_one(WebhookEndpoint, endpoint_id)
    db.session.refresh(endpoint)
    cfg = current_app.config
    too_many = endpoint.consecutive_failures >= int(cfg["WEBHOOK_DISABLE_AFTER_FAILURES"])
    too_long = endpoint.failing_since is not None and now - endpoint.failing_since >= timedelta(
        hours=float(cfg["WEBHOOK_DISABLE_AFTER_HOURS"])
    )
    if endpoint.enabled and (too_many or too_long):
        disable_failing(endpoint, too_many=too_many)


def disable_failing(endpoint: WebhookEndpoint, *, too_many: bool) -> None:
    """Stop calling an endpoint that keeps failing, and tell every admin."""
    since = endpoint.failing_since or utcnow()
    reason = (
        f"{endpoint.consecutive_failures} deliveries in a row failed every attempt"
        if too_many
        else f"every delivery has failed since {since:%Y-%m-%d %H:%M} UTC"
    )
    endpoint.enabled = False
    endpoint.disabled_at = utcnow()
    endpoint.disabled_reason = f"Disabled automatically: {reason}."
    db.session.add(
        AuditEvent(
            action="webhook.disabled",
            actor_name=None,
            target_type=WebhookEndpoint.__tablename__,
            target_id=endpoint.id,
            target_name=endpoint.name[:200],
            detail={"reason": endpoint.disabled_reason},
        )
    )
    admins = db.session.scalars(
        select(User).where(User.role == Role.ADMIN.value, User.suspended_at.is_(None))
    ).all()
    link = external_url("admin.webhook_endpoint", endpoint_id=endpoint.id)
    for admin in admins:
        queue_email(
            admin.email,
            "A webhook was disabled",
            "webhook_disabled",
            user=admin,
            endpoint=endpoint,
            reason=endpoint.disabled_reason,
            link=link,
        )
    log.error("webhook endpoint %s disabled: %s", endpoint.id, endpoint.disabled_reason)
