"""The database models; importing this package registers every table."""

from portal.models.audit import AuditEvent
from portal.models.idea import (
    OUTCOME_ANSWERS,
    Category,
    Comment,
    Follow,
    Idea,
    IdeaOrganisation,
    IdeaRevision,
    InternalNote,
    Notification,
    NotificationKind,
    OutcomeAnswer,
    Report,
    Stage,
    StageChange,
    StageTransition,
    Vote,
)
from portal.models.mail import EmailPreference, OutboxMessage, OutboxStatus
from portal.models.organisation import Organisation, OrganisationDomain
from portal.models.site import SiteSetting
from portal.models.user import Role, User, UserSession

__all__ = [
    "OUTCOME_ANSWERS",
    "AuditEvent",
    "Category",
    "Comment",
    "EmailPreference",
    "Follow",
    "Idea",
    "IdeaOrganisation",
    "IdeaRevision",
    "InternalNote",
    "Notification",
    "NotificationKind",
    "Organisation",
    "OrganisationDomain",
    "OutboxMessage",
    "OutboxStatus",
    "OutcomeAnswer",
    "Report",
    "Role",
    "SiteSetting",
    "Stage",
    "StageChange",
    "StageTransition",
    "User",
    "UserSession",
    "Vote",
]
