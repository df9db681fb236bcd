"""Saved triage filters: a person names a view of the open ideas, and may share it with the team."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from portal.extensions import db
from portal.models import SavedFilter, User
from portal.permissions import can_edit_saved_filter, can_triage, require
from portal.services import audit
from portal.services.errors import DomainError, InvalidInput
from portal.services.text import clean_line
from portal.services.validation import too_long

NAME_MAX = 60
QUERY_MAX = 500
PER_PERSON = 30


class SavedFilterNotFound(DomainError):
    def __init__(self) -> None:
        super().__init__("That saved filter no longer exists.")


def visible_filters(viewer: User) -> list[SavedFilter]:
    """The person's own saved filters by name, then the ones teammates shared, by name."""
    require(can_triage(viewer))
    return list(
        db.session.scalars(
            select(SavedFilter)
            .where(or_(SavedFilter.owner_id == viewer.id, SavedFilter.shared.is_(True)))
            .order_by(SavedFilter.owner_id != viewer.id, func.lower(SavedFilter.name))
        ).unique()
    )


def get_filter(filter_id: int, *, viewer: User) -> SavedFilter:
    """One saved filter the person may use: their own, or one shared with the team."""
    require(can_triage(viewer))
    found = db.session.get(SavedFilter, filter_id)
    if found is None or not (found.owner_id == viewer.id or found.shared):
        raise SavedFilterNotFound
    return found


def _clean_name(name: str, *, owner: User, keep: SavedFilter | None = None) -> str:
    name = clean_line(name)
    if not name:
        raise InvalidInput("Give the filter a name, such as “Mine, overdue”.", field="name")
    if len(name) > NAME_MAX:
        raise InvalidInput(too_long(len(name), NAME_MAX), field="name")
    taken = db.session.scalar(
        select(SavedFilter.id).where(
            SavedFilter.owner_id == owner.id,
            func.lower(SavedFilter.name) == name.lower(),
            SavedFilter.id != (keep.id if keep else 0),
        )
    )
    if taken:
        raise InvalidInput(
            f"You already have a filter called “{name}”: choose another name.", field="name"
        )
    return name


def save_filter(*, name: str, query: str, shared: bool, actor: User, ip: str | None) -> SavedFilter:
    """Keep the view the person is looking at (its canonical query string) under a name."""
    require(can_triage(actor))
    name = _clean_name(name, owner=actor)
    if len(query) > QUERY_MAX:
        raise InvalidInput("These filters are too long to save.", field="name")
    mine = db.session.scalar(
        select(func.count()).select_from(SavedFilter).where(SavedFilter.owner_id == actor.id)
    )
    if (mine or 0) >= PER_PERSON:
        raise InvalidInput(
            f"You have {PER_PERSON} saved filters, the most one person can keep: "
            "delete one you no longer use first.",
            field="name",
        )
    saved = SavedFilter(owner_id=actor.id, name=name, query=query, shared=shared)
    db.session.add(saved)
    db.session.flush()
    audit.record("saved_filter.created", actor=actor, ip=ip, target=saved, name=name, shared=shared)
    return saved


def update_filter(
    saved: SavedFilter, *, name: str, shared: bool, actor: User, ip: str | None
) -> bool:
    """Rename a saved filter, or share it with the team or stop sharing it: its owner only."""
    require(can_edit_saved_filter(actor, saved))
    name = _clean_name(name, owner=actor, keep=saved)
    changes: dict[str, dict[str, object]] = {}
    if name != saved.name:
        changes["name"] = {"before": saved.name, "after": name}
    if shared != saved.shared:
        changes["shared"] = {"before": saved.shared, "after": shared}
    if not changes:
        return False
    saved.name, saved.shared = name, shared
    # Before and after of each changed field, as every team action's audit entry keeps them.
    audit.record("saved_filter.updated", actor=actor, ip=ip, target=saved, changes=changes)
    return True


def delete_filter(saved: SavedFilter, *, actor: User, ip: str | None) -> None:
    require(can_edit_saved_filter(actor, saved))
    audit.record("saved_filter.deleted", actor=actor, ip=ip, target=saved, name=saved.name)
    db.session.delete(saved)
