"""Reading the audit log: admins browse, filter and export it; nobody changes it."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, select

from portal.extensions import db
from portal.models import AuditEvent, User
from portal.permissions import can_manage_users, can_read_audit_log, require


@dataclass
class AuditFilters:
    action: str | None = None
    actor: str = ""  # part of an email address or display name
    since: date | None = None
    until: date | None = None  # inclusive


def actions() -> list[str]:
    return list(
        db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    )


def _query(filters: AuditFilters) -> Select[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if filters.action:
        stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.actor.strip():
        text = filters.actor.strip().lower()
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            AuditEvent.actor_id.in_(
                select(User.id).where(
                    User.email.like(pattern, escape="\\")
                    | User.display_name.ilike(pattern, escape="\\")
                )
            )
        )
    if filters.since:
        stmt = stmt.where(AuditEvent.created_at >= _start_of(filters.since))
    if filters.until and filters.until < date.max:  # no day follows 9999-12-31: no bound
        stmt = stmt.where(AuditEvent.created_at < _start_of(filters.until + timedelta(days=1)))
    return stmt


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def page(
    filters: AuditFilters, *, viewer: User, page_number: int, per_page: int = 50
) -> Pagination:
    require(can_read_audit_log(viewer))
    return db.paginate(_query(filters), page=page_number, per_page=per_page, error_out=False)


def user_history(user: User, *, viewer: User, limit: int = 20) -> list[AuditEvent]:
    """The latest events that concern one person, newest first, for their admin page."""
    require(can_manage_users(viewer))
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.target_type == "users", AuditEvent.target_id == user.id)
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
    )


EXPORT_LIMIT = 100_000


def export_csv(filters: AuditFilters, *, viewer: User) -> str:
    require(can_read_audit_log(viewer))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time (UTC)", "action", "actor", "ip", "target", "target id", "detail"])
    for event in db.session.scalars(_query(filters).limit(EXPORT_LIMIT)).unique():
        row = [
            event.created_at.isoformat(),
            event.action,
            event.actor.email if event.actor else "",
            event.ip or "",
            event.target_type or "",
            event.target_id if event.target_id is not None else "",
            json.dumps(event.detail, ensure_ascii=False, sort_keys=True),
        ]
        writer.writerow(
            ["'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in row]
        )
    return out.getvalue()
