"""Writing the audit log. Never pass a password or a token in detail.

Names are kept as they are at the time (the actor's, the target's, and those of any record passed
in detail), so that the log reads as sentences about named things even after a rename. Pass the
records themselves: `audit.record("idea.owner_changed", ..., owner=kofi)` keeps
{"id": 2, "name": "Kofi"}. How each action reads is in portal/services/audit_log.py (SENTENCES).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from portal.extensions import db
from portal.models import AuditEvent, Comment, Idea, User
from portal.models.audit import NAME_MAX


def _unproxied(value: Any) -> Any:
    # current_user arrives as a proxy; record the object it stands for.
    return getattr(value, "_get_current_object", lambda: value)()


def name_of(thing: Any) -> str | None:
    """What the log calls a record: a person's display name, an idea's title, a stage's name."""
    if thing is None:
        return None
    name: Any
    if isinstance(thing, User):
        name = thing.display_name
    elif isinstance(thing, Idea):
        name = thing.title
    elif isinstance(thing, Comment):
        idea = db.session.get(Idea, thing.idea_id)
        author = thing.author.display_name if thing.author is not None else "someone"
        name = f"{author}'s comment on “{idea.title if idea else 'an idea'}”"
    else:
        name = getattr(thing, "name", None) or getattr(thing, "title", None)
    return str(name)[:NAME_MAX] if name is not None else None


def _plain(value: Any) -> Any:
    """A detail value as JSON can keep it: records become their id and name at this moment."""
    value = _unproxied(value)
    if hasattr(value, "__tablename__") and hasattr(value, "id"):
        return {"id": value.id, "name": name_of(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


# Where the acting person acted from, when not the site's pages: "the API key “Sync” (portal_ab…)".
_THROUGH: ContextVar[str | None] = ContextVar("audit_through", default=None)


@contextmanager
def through(channel: str) -> Iterator[None]:
    """Every event recorded inside says it came through this channel (an API key, say)."""
    token = _THROUGH.set(channel)
    try:
        yield
    finally:
        _THROUGH.reset(token)


def record(
    action: str,
    *,
    actor: User | None,
    ip: str | None,
    target: Any = None,
    **detail: Any,
) -> AuditEvent:
    actor = _unproxied(actor)
    target = _unproxied(target)
    event = AuditEvent(
        action=action,
        actor_id=actor.id if actor is not None else None,
        actor_name=name_of(actor),
        ip=ip,
        target_type=type(target).__tablename__ if target is not None else None,
        target_id=target.id if target is not None else None,
        target_name=name_of(target),
        detail={key: _plain(value) for key, value in detail.items()}
        | ({"via": via} if (via := _THROUGH.get()) is not None else {}),
    )
    db.session.add(event)
    return event
