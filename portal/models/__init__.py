"""The database models; importing this package registers every table."""

from portal.models.api_key import ApiKey
from portal.models.audit import AuditEvent
from portal.models.board import (
    Audience,
    Board,
    BoardCategory,
    BoardDomain,
    BoardMember,
    BoardOrganisation,
    BoardStage,
    Invite,
)
from portal.models.catalog import Category
from portal.models.conversation import (
    Comment,
    InternalNote,
    Notification,
    NotificationKind,
    Report,
    ReportResolution,
)
from portal.models.data_export import DataExport
from portal.models.idea import (
    OUTCOME_ANSWERS,
    VOTE_SOURCES,
    Follow,
    Idea,
    IdeaOrganisation,
    IdeaRevision,
    OutcomeAnswer,
    Vote,
)
from portal.models.imports import ImportRecord
from portal.models.mail import EmailPreference, OutboxMessage, OutboxStatus
from portal.models.merge import IdeaMerge, MergedFollow, MergedVote
from portal.models.organisation import Organisation, OrganisationDomain
from portal.models.pipeline import MERGED_SLUG, NEW_SLUG, Stage, StageChange, StageTransition
from portal.models.release import Release, ReleaseIdea, ReleaseStatus
from portal.models.site import SiteSetting
from portal.models.sso import ExternalIdentity, IdentifyTokenUse, SsoProvider
from portal.models.triage import HideReview, SavedFilter
from portal.models.user import RecoveryCode, RememberedDevice, Role, User, UserSession
from portal.models.webhook import (
    WebhookAttempt,
    WebhookAudience,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookFormat,
)

__all__ = [
    "MERGED_SLUG",
    "NEW_SLUG",
    "OUTCOME_ANSWERS",
    "VOTE_SOURCES",
    "ApiKey",
    "Audience",
    "AuditEvent",
    "Board",
    "BoardCategory",
    "BoardDomain",
    "BoardMember",
    "BoardOrganisation",
    "BoardStage",
    "Category",
    "Comment",
    "DataExport",
    "EmailPreference",
    "ExternalIdentity",
    "Follow",
    "HideReview",
    "Idea",
    "IdeaMerge",
    "IdeaOrganisation",
    "IdeaRevision",
    "IdentifyTokenUse",
    "ImportRecord",
    "InternalNote",
    "Invite",
    "MergedFollow",
    "MergedVote",
    "Notification",
    "NotificationKind",
    "Organisation",
    "OrganisationDomain",
    "OutboxMessage",
    "OutboxStatus",
    "OutcomeAnswer",
    "RecoveryCode",
    "Release",
    "ReleaseIdea",
    "ReleaseStatus",
    "RememberedDevice",
    "Report",
    "ReportResolution",
    "Role",
    "SavedFilter",
    "SiteSetting",
    "SsoProvider",
    "Stage",
    "StageChange",
    "StageTransition",
    "User",
    "UserSession",
    "Vote",
    "WebhookAttempt",
    "WebhookAudience",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookFormat",
]
