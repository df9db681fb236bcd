"""A person's copy of their data: asked for on /account/my-data, prepared in the background.

The archive is a ZIP with two files:

- data.json: {"format": "portal-data-export", "version": 1, "generated_at": ISO time,
  "sections": {name: [row, ...]}}. Each row is an object whose keys are the columns of the
  table it comes from (times as ISO 8601 in UTC), less secrets (password, token and key
  hashes). The sections are SECTIONS below, always all present, in that order; "profile" and
  "organisation" hold at most one row.
- data.html: the same, as one readable page with no external assets.

It is queued like an email (portal.mail.leases, run by portal.mail.delivery with the outbox),
kept in the database (data_exports) so any server can serve it, and emailed as a link to
/account/my-data/<id>/download, which only the person signed in can open, for EXPORT_DAYS.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timedelta
from typing import Any

from flask import render_template
from sqlalchemy import ColumnElement, func, or_, select, update

from portal.extensions import db
from portal.mail import leases
from portal.mail.compose import external_url
from portal.mail.delivery import also_deliver
from portal.mail.outbox import outbox_changed, queue_email
from portal.models import (
    ApiKey,
    AuditEvent,
    Comment,
    DataExport,
    EmailPreference,
    ExternalIdentity,
    Follow,
    Idea,
    Notification,
    Organisation,
    OutboxStatus,
    OutcomeAnswer,
    RememberedDevice,
    SavedFilter,
    User,
    UserSession,
    Vote,
)
from portal.models.base import Model
from portal.models.types import utcnow
from portal.services import audit
from portal.services.errors import DomainError

EXPORT_DAYS = 7
PER_DAY = 3
MAX_ATTEMPTS = 3
FORMAT_VERSION = 1
SECTIONS = (
    "profile",
    "organisation",
    "ideas",
    "comments",
    "votes",
    "follows",
    "notifications",
    "outcome_answers",
    "email_preferences",
    "saved_filters",
    "api_keys",
    "sessions",
    "linked_sign_ins",
    "remembered_browsers",
    "audit_entries",
)
# How data.html heads each section.
TITLES = {
    "profile": "Profile",
    "organisation": "Organisation",
    "ideas": "Ideas",
    "comments": "Comments",
    "votes": "Votes",
    "follows": "Ideas you follow",
    "notifications": "Notifications",
    "outcome_answers": "Whether an outcome met your need",
    "email_preferences": "Email settings",
    "saved_filters": "Saved filters",
    "api_keys": "API keys",
    "sessions": "Where you are signed in",
    "linked_sign_ins": "Single sign-on identities",
    "remembered_browsers": "Browsers that skip the two-factor code",
    "audit_entries": "Account history",
}
# Never in an export: secrets that would let someone act as the person (the two-factor secret
# included: whoever holds it makes their codes).
SECRET_COLUMNS = frozenset(
    {
        "password_hash",
        "reset_token_hash",
        "verify_token_hash",
        "token_hash",
        "key_hash",
        "code_hash",
        "totp_secret",
        "totp_last_step",
    }
)


class ExportRefused(DomainError):
    pass


def exports_of(user: User) -> list[DataExport]:
    """Their requests, newest first, without loading the archives."""
    return list(
        db.session.scalars(
            select(DataExport)
            .where(DataExport.user_id == user.id)
            .order_by(DataExport.created_at.desc(), DataExport.id.desc())
            .limit(10)
        )
    )


def status_of(export: DataExport, now: datetime | None = None) -> str:
    """ "asked", "ready", "expired" or "failed", as the page says it."""
    now = now or utcnow()
    if export.status == OutboxStatus.SENT:
        return "ready" if export.expires_at and export.expires_at > now else "expired"
    if export.status == OutboxStatus.FAILED:
        return "failed"
    return "asked"


def request_export(user: User, *, ip: str | None) -> DataExport:
    """Queue a new export: one at a time, at most PER_DAY a day."""
    now = utcnow()
    waiting = db.session.scalar(
        select(func.count(DataExport.id)).where(
            DataExport.user_id == user.id,
            DataExport.status.in_((OutboxStatus.PENDING, OutboxStatus.SENDING)),
        )
    )
    if waiting:
        raise ExportRefused("Your copy is being prepared. We will email you when it is ready.")
    today = db.session.scalar(
        select(func.count(DataExport.id)).where(
            DataExport.user_id == user.id, DataExport.created_at > now - timedelta(days=1)
        )
    )
    if (today or 0) >= PER_DAY:
        raise ExportRefused(
            f"You can ask for a copy {PER_DAY} times a day. Use the latest one, "
            "or ask again tomorrow."
        )
    export = DataExport(user_id=user.id, created_at=now, next_attempt_at=now)
    db.session.add(export)
    audit.record("account.data_export_requested", actor=user, ip=ip, target=user)
    outbox_changed()  # the commit starts a delivery round, which prepares it
    return export


def download_for(user: User, export_id: int) -> bytes | None:
    """The archive, if it is theirs and ready and not expired; None otherwise."""
    export = db.session.get(DataExport, export_id)
    if export is None or export.user_id != user.id or status_of(export) != "ready":
        return None
    return export.archive


@also_deliver
def prepare_due(limit: int = 20) -> int:
    """Prepare every export that is due; how many became ready."""
    now = utcnow()
    ids = leases.due_ids(DataExport, now, limit)
    db.session.commit()
    return sum(1 for export_id in ids if prepare(export_id))


def prepare(export_id: int) -> bool:
    now = utcnow()
    if not leases.claim(DataExport, export_id, now):
        return False
    export = db.session.get_one(DataExport, export_id)
    user = db.session.get_one(User, export.user_id)
    try:
        archive = build_archive(user, now=now)
    except Exception as exc:  # a bug or a database hiccup: retried with back-off, then failed
        db.session.rollback()
        export = db.session.get_one(DataExport, export_id)
        leases.record_failure(
            export, f"{type(exc).__name__}: {exc}", now=now, max_attempts=MAX_ATTEMPTS
        )
        db.session.commit()
        return False
    export.archive = archive
    export.size = len(archive)
    export.status = OutboxStatus.SENT
    export.locked_until = None
    export.ready_at = now
    export.expires_at = now + timedelta(days=EXPORT_DAYS)
    queue_email(
        user.email,
        "Your copy of your data is ready",
        "data_export_ready",
        user=user,
        link=external_url("account.my_data"),
        expires_at=export.expires_at,
    )
    db.session.commit()
    return True


def purge_expired_exports() -> int:
    """Drop the archives of expired exports (the request stays, shown as expired)."""
    result = db.session.execute(
        update(DataExport)
        .where(DataExport.expires_at <= utcnow(), DataExport.archive.is_not(None))
        .values(archive=None, size=0)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- The archive ---------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _row(obj: Model, skip: frozenset[str] = SECRET_COLUMNS) -> dict[str, Any]:
    return {
        column.key: _plain(getattr(obj, column.key))
        for column in obj.__table__.columns
        if column.key not in skip
    }


def _rows(model: type[Model], where: ColumnElement[bool], order: Any) -> list[dict[str, Any]]:
    return [_row(obj) for obj in db.session.scalars(select(model).where(where).order_by(order))]


def collect(user: User) -> dict[str, list[dict[str, Any]]]:
    """Everything the portal holds about the person, by section (see the module docstring)."""
    uid = user.id
    organisation = db.session.get(Organisation, user.organisation_id or 0)
    about_them = or_(
        AuditEvent.actor_id == uid,
        (AuditEvent.target_type == User.__tablename__) & (AuditEvent.target_id == uid),
    )
    sections: dict[str, list[dict[str, Any]]] = {
        "profile": [_row(user)],
        "organisation": [{"id": organisation.id, "name": organisation.name}]
        if organisation
        else [],
        "ideas": _rows(Idea, Idea.author_id == uid, Idea.id),
        "comments": _rows(Comment, Comment.author_id == uid, Comment.id),
        "votes": _rows(Vote, Vote.user_id == uid, Vote.id),
        "follows": _rows(Follow, Follow.user_id == uid, Follow.idea_id),
        "notifications": _rows(Notification, Notification.user_id == uid, Notification.id),
        "outcome_answers": _rows(OutcomeAnswer, OutcomeAnswer.user_id == uid, OutcomeAnswer.id),
        "email_preferences": _rows(
            EmailPreference, EmailPreference.user_id == uid, EmailPreference.kind
        ),
        "saved_filters": _rows(SavedFilter, SavedFilter.owner_id == uid, SavedFilter.id),
        "api_keys": _rows(ApiKey, ApiKey.user_id == uid, ApiKey.id),
        "sessions": _rows(UserSession, UserSession.user_id == uid, UserSession.id),
        "linked_sign_ins": _rows(
            ExternalIdentity, ExternalIdentity.user_id == uid, ExternalIdentity.id
        ),
        "remembered_browsers": _rows(
            RememberedDevice, RememberedDevice.user_id == uid, RememberedDevice.id
        ),
        "audit_entries": _rows(AuditEvent, about_them, AuditEvent.id),
    }
    return {name: sections[name] for name in SECTIONS}


def build_archive(user: User, *, now: datetime) -> bytes:
    sections = collect(user)
    document = {
        "format": "portal-data-export",
        "version": FORMAT_VERSION,
        "generated_at": now.isoformat(),
        "sections": sections,
    }
    page = render_template(
        "account/data_export_archive.html",
        sections=sections,
        titles=TITLES,
        generated_at=now,
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(document, indent=2, ensure_ascii=False))
        archive.writestr("data.html", page)
    return buffer.getvalue()
