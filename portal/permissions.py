"""Who may do what: one predicate per rule, shared by views, templates and services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from portal.models.user import Role, User

# Comments can be corrected for a short while; after that the conversation has moved on.
COMMENT_EDIT_WINDOW = timedelta(minutes=15)


class PermissionDenied(Exception):
    """The acting person may not do this."""


def _role(user: Any) -> Role | None:
    if user is None or not getattr(user, "is_authenticated", False) or user.is_suspended:
        return None
    return Role(user.role)


def is_signed_in(user: Any) -> bool:
    return _role(user) is not None


def is_team(user: Any) -> bool:
    """Product managers and admins: the people who answer customers."""
    return _role(user) in (Role.PRODUCT_MANAGER, Role.ADMIN)


def is_admin(user: Any) -> bool:
    return _role(user) is Role.ADMIN


def can_manage_users(user: Any) -> bool:
    return is_admin(user)


def can_change_role(actor: Any, target: User) -> bool:
    # An admin cannot demote themselves, so the site never loses its last way in by accident.
    return is_admin(actor) and actor.id != target.id


def can_suspend(actor: Any, target: User) -> bool:
    return is_admin(actor) and actor.id != target.id


def is_verified(user: Any) -> bool:
    """Signed in with a confirmed email address: needed to post ideas and comments."""
    return is_signed_in(user) and user.email_verified_at is not None


def can_submit_idea(user: Any) -> bool:
    return is_verified(user)


def can_publish_concept(user: Any) -> bool:
    """Team members may post early ideas of their own to ask customers for feedback."""
    return is_team(user)


def can_see_hidden(user: Any) -> bool:
    return is_team(user)


def can_edit_idea(user: Any, idea: Any) -> bool:
    """Authors edit their idea until the team first responds; later edits would move goalposts."""
    return (
        is_signed_in(user)
        and idea.author_id == user.id
        and idea.first_response_at is None
        and idea.hidden_at is None
    )


def can_see_revisions(user: Any) -> bool:
    return is_team(user)


def can_vote(user: Any, idea: Any) -> bool:
    return is_signed_in(user) and idea.voting_open


def can_comment(user: Any, idea: Any) -> bool:
    return is_verified(user) and idea.hidden_at is None


def can_edit_comment(user: Any, comment: Any, *, now: Any) -> bool:
    return (
        is_signed_in(user)
        and comment.author_id == user.id
        and comment.deleted_at is None
        and comment.hidden_at is None
        and now - comment.created_at <= COMMENT_EDIT_WINDOW
    )


def can_delete_comment(user: Any, comment: Any) -> bool:
    return is_signed_in(user) and comment.author_id == user.id and comment.deleted_at is None


def can_mark_official(user: Any) -> bool:
    return is_team(user)


def can_report(user: Any) -> bool:
    """Anyone signed in may report an idea or a comment to the moderators."""
    return is_signed_in(user)


def can_moderate(user: Any) -> bool:
    """Hide, restore, edit and approve content, and handle reports: the admins."""
    return is_admin(user)


def can_hide_content(user: Any) -> bool:
    """Hide an idea or a comment: admins, and product managers as moderators of their own
    product, whose hides wait for an admin to confirm or restore them."""
    return is_team(user)


def hides_need_review(user: Any) -> bool:
    """Whose hides an admin reviews: everyone who may hide but not moderate."""
    return can_hide_content(user) and not can_moderate(user)


def can_read_audit_log(user: Any) -> bool:
    return is_admin(user)


def can_configure_stages(user: Any) -> bool:
    """The pipeline itself is an admin's to change; product managers work within it."""
    return is_admin(user)


def can_configure_site(user: Any) -> bool:
    """The site's name, guidelines, pre-moderation and categories: the admins' settings."""
    return is_admin(user)


def can_configure_boards(user: Any) -> bool:
    """Boards, their pipelines and who may see each: the admins decide."""
    return is_admin(user)


def can_manage_outbox(user: Any) -> bool:
    """Read and resend the site's outgoing email, which holds people's addresses: the admins."""
    return is_admin(user)


def can_manage_webhooks(user: Any) -> bool:
    """Register webhook endpoints, read their secrets and delivery logs: the admins."""
    return is_admin(user)


def is_exempt_from_limits(user: Any) -> bool:
    """The team answers customers all day; rate and new-account limits are there for spam."""
    return is_team(user)


def can_read_verdicts(user: Any) -> bool:
    """What followers answered about an idea's outcome is for the team to learn from."""
    return is_team(user)


def can_triage(user: Any) -> bool:
    """Moving ideas between stages and merging duplicates: the product team decides."""
    return is_team(user)


def can_edit_saved_filter(user: Any, saved: Any) -> bool:
    """A saved triage filter is renamed, shared or deleted by the person who saved it only."""
    return can_triage(user) and saved.owner_id == user.id


def can_see_organisations(user: Any) -> bool:
    return is_team(user)


def speaks_for_team(user: Any) -> bool:
    """Their comment is the team's answer: it counts as a response and may be made official."""
    return is_team(user)


def skips_pre_moderation(user: Any) -> bool:
    """The team's own ideas are public at once, whatever pre-moderation holds back."""
    return is_team(user)


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied
