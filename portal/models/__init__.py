"""The database models; importing this package registers every table."""

from portal.models.audit import AuditEvent
from portal.models.idea import (
    Category,
    Comment,
    Follow,
    Idea,
    IdeaOrganisation,
    IdeaRevision,
    InternalNote,
    Notification,
    OutcomeAnswer,
    Report,
    ReportResolution,
    Stage,
    StageChange,
    StageTransition,
    Vote,
)
from portal.models.mail import EmailPreference, OutboxMessage
from portal.models.organisation import Organisation, OrganisationDomain
from portal.models.site import SiteSetting
from portal.models.user import Role, User, UserSession

__all__ = [
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
    "Organisation",
    "OrganisationDomain",
    "OutboxMessage",
    "OutcomeAnswer",
    "Report",
    "ReportResolution",
    "Role",
    "SiteSetting",
    "Stage",
    "StageChange",
    "StageTransition",
    "User",
    "UserSession",
    "Vote",
]
