"""Writing the audit log. Never pass a password or a token in detail."""

from __future__ import annotations

from typing import Any

from portal.extensions import db
from portal.models import AuditEvent, User


def record(
    action: str,
    *,
    actor: User | None,
    ip: str | None,
    target: Any = None,
    **detail: Any,
) -> AuditEvent:
    # current_user arrives as a proxy; record the object it stands for.
    actor = getattr(actor, "_get_current_object", lambda: actor)()
    target = getattr(target, "_get_current_object", lambda: target)()
    event = AuditEvent(
        action=action,
        actor_id=actor.id if actor is not None else None,
        ip=ip,
        target_type=type(target).__tablename__ if target is not None else None,
        target_id=target.id if target is not None else None,
        detail=detail,
    )
    db.session.add(event)
    return event
