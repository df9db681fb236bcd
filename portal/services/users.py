"""Managing people: finding them, changing roles, suspending and reinstating."""

from __future__ import annotations

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, func, or_, select

from portal.extensions import db
from portal.models import Role, User
from portal.models.types import utcnow
from portal.permissions import can_change_role, can_manage_users, can_suspend, require
from portal.services import audit, moderation, sessions, two_factor
from portal.services.errors import InvalidInput
from portal.services.text import without_control_characters

SUSPENSION_REASON_MAX = 500


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_users(
    *,
    actor: User,
    text: str = "",
    role: str | None = None,
    suspended: bool | None = None,
    page_number: int,
    per_page: int,
) -> Pagination:
    """One page of the people matching a name or email fragment, newest first."""
    require(can_manage_users(actor))
    query = _search_query(text=text, role=role, suspended=suspended)
    return db.paginate(query, page=page_number, per_page=per_page, error_out=False)


def _search_query(*, text: str, role: str | None, suspended: bool | None) -> Select[User]:
    stmt = select(User).order_by(User.created_at.desc(), User.id.desc())
    text = text.strip()
    if text:
        pattern = _like_pattern(text)
        stmt = stmt.where(
            or_(
                User.email.like(pattern, escape="\\"),
                User.display_name.ilike(pattern, escape="\\"),
            )
        )
    if role in {r.value for r in Role}:
        stmt = stmt.where(User.role == role)
    if suspended is True:
        stmt = stmt.where(User.suspended_at.is_not(None))
    elif suspended is False:
        stmt = stmt.where(User.suspended_at.is_(None))
    return stmt


def change_role(target: User, role: str, *, actor: User, ip: str | None) -> None:
    require(can_change_role(actor, target))
    _set_role(target, role, actor=actor, ip=ip)


def set_role_by_operator(target: User, role: str) -> None:
    """For the command line: whoever runs it already controls the server."""
    _set_role(target, role, actor=None, ip=None, via="cli")


def is_last_admin(user: User) -> bool:
    """Whether no other admin who can sign in would be left without this one."""
    if user.role != Role.ADMIN.value:
        return False
    others = db.session.scalar(
        select(func.count(User.id)).where(
            User.role == Role.ADMIN.value, User.id != user.id, User.suspended_at.is_(None)
        )
    )
    return not others


def set_role_by_provider(target: User, role: str, *, provider: str, ip: str | None) -> None:
    """At a single sign-on: the role the provider's claim maps to (portal.services.sso).

    Never the last admin's demotion: a group renamed at the provider must not leave the site
    with nobody to run it (the sign-in goes on, as admin; the audit log says why)."""
    if role != Role.ADMIN.value and is_last_admin(target):
        audit.record(
            "user.role_kept", actor=None, ip=ip, target=target, wanted=role, provider=provider
        )
        return
    _set_role(target, role, actor=None, ip=ip, via="sso", provider=provider)


def _set_role(
    target: User, role: str, *, actor: User | None, ip: str | None, **detail: str
) -> None:
    try:
        new_role = Role(role)
    except ValueError:
        raise InvalidInput("Choose one of the listed roles.", field="role") from None
    if new_role.value == target.role:
        return
    old_role = target.role
    target.role = new_role.value
    two_factor.end_sessions_if_newly_required(target)  # they sign in again, through setup
    audit.record(
        "user.role_changed",
        actor=actor,
        ip=ip,
        target=target,
        old=old_role,
        new=new_role.value,
        **detail,
    )


def suspend(
    target: User, reason: str, *, actor: User, ip: str | None, hide_content: bool = False
) -> None:
    """Suspend an account: every session ends at once and sign-in is refused with the reason.

    With hide_content, all their ideas and comments are hidden in the same transaction.
    """
    require(can_suspend(actor, target))
    reason = without_control_characters(reason).strip()
    if len(reason) < 5:
        raise InvalidInput("Give the person a reason of at least 5 characters.", field="reason")
    if len(reason) > SUSPENSION_REASON_MAX:
        raise InvalidInput(
            f"Keep the reason under {SUSPENSION_REASON_MAX} characters.", field="reason"
        )
    target.suspended_at = utcnow()
    target.suspension_reason = reason
    target.end_emailed_links()
    sessions.end_all_sessions(target)
    audit.record("user.suspended", actor=actor, ip=ip, target=target, reason=reason)
    if hide_content:
        moderation.hide_everything_by(target, reason=reason, actor=actor, ip=ip)


def unsuspend(target: User, *, actor: User, ip: str | None) -> None:
    require(can_suspend(actor, target))
    if not target.is_suspended:
        return
    target.suspended_at = None
    target.suspension_reason = None
    audit.record("user.unsuspended", actor=actor, ip=ip, target=target)
