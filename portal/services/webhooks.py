"""Webhooks: endpoints admins register, and the events the services emit to them.

Each service that changes something worth telling calls one function here (idea_created,
idea_moved, idea_merged, comment_created, vote_counted, ideas_shipped, outcome_answered) in
its own transaction; a delivery row is written for every enabled endpoint that asked for the
event, and portal.mail.webhooks sends it after the commit. So the web pages, the JSON API and
the commands all emit the same events.

What is sent depends on the endpoint's audience. By default ("public") only what a visitor who
is not signed in may see: ideas on public boards, not hidden and not waiting for approval. An
endpoint the admins set to "team" (their company's own systems) hears of ideas on every board,
still never hidden ones or ones waiting for approval. Comments hidden or deleted are never
sent. It is checked when the event happens and again when it is sent
(portal.mail.webhooks.may_tell, still_allowed).

Payloads ("data" of the Standard Webhooks body) have stable field names; see EVENT_TYPES.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import func, select

from portal.database import insert_ignoring_duplicates
from portal.extensions import db
from portal.mail import netguard
from portal.mail import webhooks as delivery
from portal.mail.compose import external_url
from portal.mail.leases import requeue
from portal.mail.outbox import outbox_changed
from portal.models import (
    Board,
    Comment,
    Idea,
    OutboxStatus,
    Release,
    Stage,
    User,
    WebhookAttempt,
    WebhookAudience,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookFormat,
)
from portal.models.types import utcnow
from portal.permissions import can_manage_webhooks, require
from portal.services import audit, settings
from portal.services.errors import InvalidFields, InvalidInput
from portal.services.text import clean_line

# Every event an endpoint may ask for, with what the admins' form calls it.
EVENT_TYPES: dict[str, str] = {
    "idea.created": "An idea is posted (or approved by a moderator)",
    "idea.moved": "An idea moves to another stage, with the team's note",
    "idea.shipped": "An idea ships: moved to Shipped, or in a published release",
    "idea.merged": "An idea is merged into another",
    "comment.created": "Someone comments on an idea",
    "vote.created": "Someone votes (or only at the vote counts you list)",
    "outcome.answered": "A follower says whether a shipped or declined idea met their need",
}
TEST_EVENT = "webhook.test"
SHIPPED_SLUG = "shipped"
FORMAT_LABELS = {
    WebhookFormat.STANDARD: "Standard Webhooks (signed JSON)",
    WebhookFormat.SLACK: "Slack incoming webhook",
    WebhookFormat.TEAMS: "Microsoft Teams Workflows webhook (Adaptive Card)",
}
AUDIENCE_LABELS = {
    WebhookAudience.PUBLIC: "What visitors see: ideas on public boards only",
    WebhookAudience.TEAM: "Everything the team sees: ideas on every board, signed-in only and "
    "private boards included",
}
URL_MAX = 2000
DESCRIPTION_MAX = 200
MAX_THRESHOLDS = 20
LOCAL_HOSTS_MAX = 500


# --- Endpoints -----------------------------------------------------------------------------


def new_secret() -> str:
    return delivery.SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


@dataclass
class EndpointText:
    url: str
    description: str
    format: str
    events: list[str]
    vote_thresholds: list[int]
    audience: str


def parse_thresholds(raw: str) -> list[int]:
    """ "10, 50, 100" as [10, 50, 100]; InvalidInput for anything else."""
    values: set[int] = set()
    for part in raw.replace(",", " ").split():
        if not part.isdigit() or not 1 <= int(part) <= 10_000_000:
            raise InvalidInput(
                "List vote counts as whole numbers, such as 10, 50, 100.", field="vote_thresholds"
            )
        values.add(int(part))
    if len(values) > MAX_THRESHOLDS:
        raise InvalidInput(f"List at most {MAX_THRESHOLDS} vote counts.", field="vote_thresholds")
    return sorted(values)


def _clean(
    url: str,
    description: str,
    format: str,
    events: Iterable[str],
    thresholds: str,
    audience: str,
) -> EndpointText:
    problems: dict[str, str] = {}
    url = (url or "").strip()
    if not url:
        problems["url"] = "Give the address to send events to."
    elif len(url) > URL_MAX:
        problems["url"] = f"Keep the address under {URL_MAX} characters."
    else:
        try:
            netguard.check_url(url, delivery.local_hosts())
        except netguard.Refused as exc:
            problems["url"] = str(exc)
    description = clean_line(description)
    if len(description) > DESCRIPTION_MAX:
        problems["description"] = f"Keep the description under {DESCRIPTION_MAX} characters."
    if format not in {f.value for f in WebhookFormat}:
        problems["format"] = "Choose one of the formats."
    if audience not in {a.value for a in WebhookAudience}:
        problems["audience"] = "Choose what it may receive."
    chosen = [e for e in EVENT_TYPES if e in set(events)]
    if not chosen:
        problems["events"] = "Choose at least one event to send."
    try:
        vote_thresholds = parse_thresholds(thresholds or "")
    except InvalidInput as exc:
        problems["vote_thresholds"] = exc.message
        vote_thresholds = []
    if problems:
        raise InvalidFields(problems)
    return EndpointText(url, description, format, chosen, vote_thresholds, audience)


def create_endpoint(
    *,
    actor: User,
    ip: str | None,
    url: str,
    description: str = "",
    format: str = WebhookFormat.STANDARD,
    events: Iterable[str] = (),
    vote_thresholds: str = "",
    audience: str = WebhookAudience.PUBLIC,
) -> WebhookEndpoint:
    """Register an endpoint (enabled, with a new secret); the URL must be one it may call."""
    require(can_manage_webhooks(actor))
    text = _clean(url, description, format, events, vote_thresholds, audience)
    endpoint = WebhookEndpoint(
        url=text.url,
        description=text.description,
        format=text.format,
        events=text.events,
        vote_thresholds=text.vote_thresholds,
        audience=text.audience,
        enabled=True,
        secret=new_secret(),
        created_by_id=actor.id,
    )
    db.session.add(endpoint)
    db.session.flush()
    audit.record(
        "webhook.created",
        actor=actor,
        ip=ip,
        target=endpoint,
        url=text.url,
        events=text.events,
        audience=text.audience,
    )
    return endpoint


def update_endpoint(
    endpoint: WebhookEndpoint,
    *,
    actor: User,
    ip: str | None,
    url: str,
    description: str,
    format: str,
    events: Iterable[str],
    vote_thresholds: str,
    enabled: bool,
    audience: str = WebhookAudience.PUBLIC,
) -> list[str]:
    """Save an endpoint's settings; returns the names of those that changed."""
    require(can_manage_webhooks(actor))
    text = _clean(url, description, format, events, vote_thresholds, audience)
    wanted: dict[str, Any] = {
        "url": text.url,
        "description": text.description,
        "format": text.format,
        "events": text.events,
        "vote_thresholds": text.vote_thresholds,
        "audience": text.audience,
        "enabled": enabled,
    }
    changed = {k: v for k, v in wanted.items() if getattr(endpoint, k) != v}
    if not changed:
        return []
    detail = {k: {"old": getattr(endpoint, k), "new": v} for k, v in changed.items()}
    if changed.get("enabled") is True:
        _clear_failures(endpoint)
    for key, value in changed.items():
        setattr(endpoint, key, value)
    audit.record(
        "webhook.updated", actor=actor, ip=ip, target=endpoint, changed=list(changed), **detail
    )
    return list(changed)


def _clear_failures(endpoint: WebhookEndpoint) -> None:
    endpoint.consecutive_failures = 0
    endpoint.failing_since = None
    endpoint.disabled_at = None
    endpoint.disabled_reason = None


def enable(endpoint: WebhookEndpoint, *, actor: User, ip: str | None) -> None:
    """Call a disabled endpoint again, its count of failures forgotten."""
    require(can_manage_webhooks(actor))
    if endpoint.enabled:
        return
    endpoint.enabled = True
    _clear_failures(endpoint)
    audit.record("webhook.enabled", actor=actor, ip=ip, target=endpoint)


def delete_endpoint(endpoint: WebhookEndpoint, *, actor: User, ip: str | None) -> None:
    require(can_manage_webhooks(actor))
    audit.record("webhook.deleted", actor=actor, ip=ip, target=endpoint, url=endpoint.url)
    db.session.delete(endpoint)


def rotate_secret(endpoint: WebhookEndpoint, *, actor: User, ip: str | None) -> None:
    """A new secret; the old one still signs (a second signature) for the grace period."""
    require(can_manage_webhooks(actor))
    grace = timedelta(hours=float(current_app.config["WEBHOOK_ROTATION_GRACE_HOURS"]))
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = utcnow() + grace
    endpoint.secret = new_secret()
    audit.record("webhook.secret_rotated", actor=actor, ip=ip, target=endpoint)


def previous_signs_until(endpoint: WebhookEndpoint) -> datetime | None:
    """Until when the rotated-out secret still signs; None when it no longer does."""
    expires = endpoint.previous_secret_expires_at
    return expires if endpoint.previous_secret and expires and expires > utcnow() else None


def reveal_secret(endpoint: WebhookEndpoint, *, actor: User, ip: str | None) -> str:
    """The signing secret, for an admin who asked to see it; the log notes who did."""
    require(can_manage_webhooks(actor))
    audit.record("webhook.secret_revealed", actor=actor, ip=ip, target=endpoint)
    return endpoint.secret


def send_test(endpoint: WebhookEndpoint, *, actor: User, ip: str | None) -> WebhookDelivery:
    """Queue a webhook.test event for this (enabled) endpoint alone."""
    require(can_manage_webhooks(actor))
    if not endpoint.enabled:
        raise InvalidInput("Enable the endpoint before sending it a test event.")
    row = _queue(
        endpoint,
        TEST_EVENT,
        {"message": f"A test event, sent by {actor.display_name} from the admin pages."},
    )
    audit.record("webhook.test_sent", actor=actor, ip=ip, target=endpoint)
    return row


def send_again(row: WebhookDelivery, *, actor: User, ip: str | None) -> None:
    """Send a delivery once more, from its first attempt (its earlier tries stay in the log)."""
    require(can_manage_webhooks(actor))
    endpoint = db.session.get_one(WebhookEndpoint, row.endpoint_id)
    if not endpoint.enabled:
        raise InvalidInput("Enable the endpoint before sending anything to it again.")
    if row.status in (OutboxStatus.PENDING, OutboxStatus.SENDING):
        raise InvalidInput("That delivery is still being sent.")
    requeue(row, utcnow())
    outbox_changed()
    audit.record(
        "webhook.resent", actor=actor, ip=ip, target=endpoint, delivery=row.id, event=row.event_type
    )


def deliveries(endpoint: WebhookEndpoint, *, page: int = 1, per_page: int = 50) -> Pagination:
    """The endpoint's delivery log, newest first."""
    return db.paginate(
        select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc()),
        page=page,
        per_page=per_page,
        error_out=False,
    )


def delivery_count(endpoint: WebhookEndpoint) -> int:
    """How many deliveries the endpoint's log holds (deleting it deletes them)."""
    return (
        db.session.scalar(
            select(func.count(WebhookDelivery.id)).where(WebhookDelivery.endpoint_id == endpoint.id)
        )
        or 0
    )


def attempts_of(delivery_ids: Iterable[int]) -> dict[int, list[WebhookAttempt]]:
    """Each delivery's tries, oldest first: one query for a page of the log."""
    ids = sorted(set(delivery_ids))
    found: dict[int, list[WebhookAttempt]] = {i: [] for i in ids}
    if ids:
        rows = db.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(ids))
            .order_by(WebhookAttempt.id)
        )
        for attempt in rows:
            found[attempt.delivery_id].append(attempt)
    return found


def local_hosts() -> str:
    return " ".join(delivery.local_hosts())


def update_local_hosts(raw: str, *, actor: User, ip: str | None) -> list[str]:
    """The hosts webhooks may call although they are inside the network (receivers on this
    machine, for trying webhooks out): "localhost", "127.0.0.1:8080"."""
    require(can_manage_webhooks(actor))
    entries = (raw or "").replace(",", " ").split()
    value = " ".join(entries)
    if len(value) > LOCAL_HOSTS_MAX:
        raise InvalidInput(
            f"Keep the list under {LOCAL_HOSTS_MAX} characters.", field="local_hosts"
        )
    for entry in entries:
        if not all(c.isalnum() or c in ".-:[]_" for c in entry):
            raise InvalidInput(
                f"“{entry}” is not a host name or address (with an optional :port).",
                field="local_hosts",
            )
    return settings.save_changed(
        {delivery.LOCAL_HOSTS_SETTING: value},
        {delivery.LOCAL_HOSTS_SETTING: local_hosts()},
        actor=actor,
        ip=ip,
    )


# --- Events --------------------------------------------------------------------------------


def _subscribed(event_type: str) -> list[WebhookEndpoint]:
    """The enabled endpoints that asked for this event (one query; most sites have none)."""
    rows = db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)))
    return [e for e in rows if event_type in (e.events or [])]


def _message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def _queue(
    endpoint: WebhookEndpoint,
    event_type: str,
    data: dict[str, Any],
    *,
    idea: Idea | None = None,
    comment: Comment | None = None,
    message_id: str | None = None,
) -> WebhookDelivery:
    row = WebhookDelivery(
        endpoint_id=endpoint.id,
        message_id=message_id or _message_id(),
        event_type=event_type,
        payload=data,
        idea_id=idea.id if idea is not None else None,
        comment_id=comment.id if comment is not None else None,
    )
    db.session.add(row)
    outbox_changed()
    return row


def _emit(
    event_type: str,
    idea: Idea,
    build: Callable[[], dict[str, Any]],
    *,
    comment: Comment | None = None,
    only: Callable[[WebhookEndpoint], bool] | None = None,
) -> int:
    """Queue the event for every endpoint that asked for it and may be told; how many.

    Who asked is looked up first (one query; most sites have no endpoint), and the payload is
    built only for someone, from the database as this transaction leaves it.
    """
    targets = [
        e
        for e in _subscribed(event_type)
        if delivery.may_tell(e, idea) and (only is None or only(e))
    ]
    if not targets:
        return 0
    if comment is not None and not delivery.comment_is_public(comment):
        return 0
    db.session.flush()
    data = build()
    for endpoint in targets:
        _queue(endpoint, event_type, data, idea=idea, comment=comment)
    return len(targets)


def _stage(stage: Stage | None) -> dict[str, Any] | None:
    if stage is None:
        return None
    return {"slug": stage.slug, "name": stage.name, "closed": stage.is_closed}


def idea_data(idea: Idea) -> dict[str, Any]:
    """An idea as every event describes it. Counts are read from the database, where the
    services keep them (an SQL increment leaves the loaded object behind)."""
    votes, comments = db.session.execute(
        select(Idea.vote_count, Idea.comment_count).where(Idea.id == idea.id)
    ).one()
    return {
        "id": idea.id,
        "title": idea.title,
        "url": external_url("ideas.detail", idea_id=idea.id),
        "stage": _stage(idea.stage),
        "board": {"slug": idea.board.slug, "name": idea.board.name},
        "votes": votes,
        "comments": comments,
        "created_at": _stamp(idea.created_at),
    }


def idea_created(idea: Idea) -> None:
    """idea.created: {"idea", "problem", "solution"}. Also when a moderator approves an idea
    that waited, since that is when it appears."""
    _emit(
        "idea.created",
        idea,
        lambda: {"idea": idea_data(idea), "problem": idea.problem, "solution": idea.solution},
    )


def idea_board_moved(idea: Idea, from_board: Board) -> None:
    """An idea moved to another board: idea.created (as idea_created says it) for the
    endpoints that could not hear of it on its old board and may on the new one, since to
    them it newly appears. Those that could already hear of it are told nothing."""
    _emit(
        "idea.created",
        idea,
        lambda: {"idea": idea_data(idea), "problem": idea.problem, "solution": idea.solution},
        only=lambda endpoint: not delivery.may_tell_of_board(endpoint, from_board),
    )


def idea_moved(
    idea: Idea, from_stage: Stage | None, *, note: str, release: Release | None = None
) -> None:
    """idea.moved: {"idea", "from_stage", "to_stage", "note"}; and idea.shipped ({"idea",
    "note", "release"}: the release that shipped it, or null) when it moved to Shipped."""
    _emit(
        "idea.moved",
        idea,
        lambda: {
            "idea": idea_data(idea),
            "from_stage": _stage(from_stage),
            "to_stage": _stage(idea.stage),
            "note": note,
        },
    )
    if idea.stage is not None and idea.stage.slug == SHIPPED_SLUG:
        _emit(
            "idea.shipped",
            idea,
            lambda: {"idea": idea_data(idea), "note": note, "release": _release(release)},
        )


def _release(release: Release | None) -> dict[str, Any] | None:
    if release is None:
        return None
    return {
        "id": release.id,
        "title": release.title,
        "url": external_url("main.release", release_id=release.id),
    }


def ideas_shipped(
    release: Release, moved: Iterable[tuple[Idea, Stage | None]], *, note: str
) -> None:
    """A published release moved these ideas (each with the stage it left) to Shipped."""
    for idea, from_stage in moved:
        idea_moved(idea, from_stage, note=note, release=release)


def idea_merged(source: Idea, target: Idea, *, note: str) -> None:
    """idea.merged: {"idea" (the duplicate), "into" (the idea kept), "note"}. The kept idea
    is always one visitors may see (pipeline.merge_ideas checks); a hidden duplicate is not
    told of."""
    _emit(
        "idea.merged",
        source,
        lambda: {"idea": idea_data(source), "into": idea_data(target), "note": note},
    )


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def comment_created(comment: Comment, idea: Idea) -> None:
    """comment.created: {"idea", "comment": {"id", "url", "body", "author", "parent_id",
    "created_at"}}."""
    _emit(
        "comment.created",
        idea,
        lambda: {
            "idea": idea_data(idea),
            "comment": {
                "id": comment.id,
                "url": external_url(
                    "ideas.detail", _anchor=f"comment-{comment.id}", idea_id=idea.id
                ),
                "body": comment.body,
                "author": comment.author.display_name if comment.author is not None else None,
                "parent_id": comment.parent_id,
                "created_at": _stamp(comment.created_at),
            },
        },
        comment=comment,
    )


def vote_counted(idea: Idea) -> None:
    """vote.created: {"idea", "votes", "threshold"}, after a vote was counted.

    An endpoint with vote thresholds hears only when the count reaches one of them, once per
    idea and threshold whatever happens to the count later (the delivery's message id is
    made of them and unique); one without hears of every vote but an idea's first, its
    author's own on posting (idea.created says it).
    """
    targets = [e for e in _subscribed("vote.created") if delivery.may_tell(e, idea)]
    if not targets:
        return
    db.session.flush()
    data = idea_data(idea)
    votes = data["votes"]
    for endpoint in targets:
        thresholds = endpoint.vote_thresholds or []
        if thresholds and votes in thresholds:
            insert_ignoring_duplicates(
                WebhookDelivery,
                endpoint_id=endpoint.id,
                message_id=f"msg_votes_{endpoint.id}_{idea.id}_{votes}",
                event_type="vote.created",
                payload={"idea": data, "votes": votes, "threshold": votes},
                idea_id=idea.id,
                status=OutboxStatus.PENDING,
                attempts=0,
                next_attempt_at=utcnow(),
                created_at=utcnow(),
            )
            outbox_changed()
        elif not thresholds and votes > 1:
            payload = {"idea": data, "votes": votes, "threshold": None}
            _queue(endpoint, "vote.created", payload, idea=idea)


def outcome_answered(idea: Idea, *, answer: str, comment: str) -> None:
    """outcome.answered: {"idea", "answer" (yes, partly, no), "comment"}; who answered is the
    team's to know, not the receiver's."""
    _emit(
        "outcome.answered",
        idea,
        lambda: {"idea": idea_data(idea), "answer": answer, "comment": comment},
    )


def counts_by_status(endpoint_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """For the list of endpoints: how many deliveries of each status each has."""
    ids = sorted(set(endpoint_ids))
    found: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        rows = db.session.execute(
            select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
            .where(WebhookDelivery.endpoint_id.in_(ids))
            .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status)
        )
        for endpoint_id, status, count in rows:
            found[endpoint_id][status] = count
    return found
