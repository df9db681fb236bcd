"""The database models; importing this package registers every table."""

from portal.models.audit import AuditEvent
from portal.models.organisation import Organisation, OrganisationDomain
from portal.models.site import SiteSetting
from portal.models.user import Role, User, UserSession

__all__ = [
    "AuditEvent",
    "Organisation",
    "OrganisationDomain",
    "Role",
    "SiteSetting",
    "User",
    "UserSession",
]
